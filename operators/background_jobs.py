"""Long work (training) off Blender's main thread.

A worker thread runs the job's pure computation and posts progress into a queue; a
`bpy.app.timers` function drains the queue on the main thread, shows progress (panel, status bar,
training-curve image) and applies the result there, since Blender data may only be touched on the
main thread. Background mode (`blender --background`, the bpy module) has no event loop, so the
same job runs synchronously and prints progress lines instead.

Shared by the operators that start jobs: `StepReporter` relays a pure loop's progress to a job's
report without flooding it, and `JobOperator` gives an operator Esc-to-cancel in a window.
"""

from __future__ import annotations

import atexit
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

import bpy

from .operator_support import reports_errors

POLL_SECONDS = 0.1


@dataclass
class Progress:
    """One progress message from a worker: a fraction done and a line for people."""

    fraction: float
    message: str
    history: dict = field(default_factory=dict)  # e.g. {"train_loss": [...], "val_loss": [...]}


class Job:
    """A unit of long work. `work` runs off the main thread and must not touch bpy;
    `apply` and `discard` run on the main thread."""

    label = "Job"

    def work(self, report, should_stop):
        """Compute and return a result; call report(Progress) now and then; poll should_stop()."""
        raise NotImplementedError

    push_undo = True  # the runner makes an undo step after apply (a modal operator may do it instead)
    applied = False  # set by `apply` once the result is written: the operator then ends FINISHED (one undo step)

    def apply(self, context, result) -> tuple[str, str]:
        """Write the result into Blender; return (report level, summary), e.g. ('INFO', 'Trained …')."""
        raise NotImplementedError

    def discard(self, reason: str) -> None:
        """The job was cancelled or failed: clean up anything half-made (files, datablocks)."""


class JobRunner:
    """Runs one job at a time and brings its progress and result back to the main thread."""

    def __init__(self):
        self.job: Job | None = None
        self._thread: threading.Thread | None = None
        self._messages: queue.Queue = queue.Queue()
        self._cancel = threading.Event()
        self.latest: Progress | None = None
        self.started = 0.0
        self.last_summary: tuple[str, str] | None = None
        self.listeners = []  # callables(progress) run on the main thread at each update
        self._switch_interval: float | None = None

    @property
    def running(self) -> bool:
        return self.job is not None

    def start(self, job: Job, context=None) -> tuple[str, str] | None:
        """Start `job`; in background mode run it to the end here and return (level, summary)."""
        if self.running:
            raise RuntimeError(f"'{self.job.label}' is still running; wait for it or cancel it first")
        self.job, self.latest, self.started = job, None, time.perf_counter()
        self._cancel.clear()
        if bpy.app.background:
            return self._run_synchronously(context or bpy.context)
        # Blender's UI is drawn by Python panels, each needing the GIL: hand it over often while a worker runs.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(0.0005)
        self._thread = threading.Thread(target=self._work, name=f"Design Space: {job.label}", daemon=True)
        self._thread.start()
        bpy.app.timers.register(self._poll, first_interval=POLL_SECONDS, persistent=True)
        return None

    def cancel(self) -> None:
        self._cancel.set()

    def abandon(self) -> None:
        """Forget the job without applying anything (its worker stops by itself once cancelled)."""
        if bpy.app.timers.is_registered(self._poll):
            bpy.app.timers.unregister(self._poll)
        self.last_summary = ('INFO', "The job was stopped because another file was opened")
        self._finish_state()

    def shutdown(self) -> None:
        """Stop any job and the timer (on add-on unregister): nothing keeps running."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout=15.0)  # the relay kills a worker that ignores the cancel after 10 s
        if bpy.app.timers.is_registered(self._poll):
            bpy.app.timers.unregister(self._poll)
        if self.job is not None:
            self.job.discard("Design Space was disabled")
        self._finish_state()

    # --- worker side --------------------------------------------------------------------------

    def _work(self) -> None:
        try:
            result = self.job.work(self._messages.put, self._cancel.is_set)
            self._messages.put(("done", result))
        except BaseException as error:  # reported on the main thread (SystemExit too: the runner must be freed)
            self._messages.put(("error", error, traceback.format_exc()))

    # --- main-thread side ---------------------------------------------------------------------

    def _poll(self):
        done, pending = None, None
        try:
            while True:
                message = self._messages.get_nowait()
                if isinstance(message, Progress):
                    if pending is not None:  # keep what an earlier message carried (a new curve image)
                        message.history = {**{k: v for k, v in pending.history.items() if v is not None},
                                           **{k: v for k, v in message.history.items() if v is not None}}
                    pending = self.latest = message
                else:
                    done = message
        except queue.Empty:
            pass
        if pending is not None:
            for listener in self.listeners:
                listener(pending)
        if done is None:
            return POLL_SECONDS
        self._complete(bpy.context, done)
        return None

    def _complete(self, context, done) -> tuple[str, str]:
        job = self.job
        cancelled = self._cancel.is_set() and (done[0] == "error" or getattr(done[1], "cancelled", True))
        try:
            if cancelled:
                job.discard("cancelled")
                summary = ('INFO', f"{job.label} cancelled; nothing was changed")
            elif done[0] == "error":
                job.discard(str(done[1]))
                summary = ('ERROR', f"{job.label} failed: {done[1]}")
                if not isinstance(done[1], (ValueError, ImportError)):
                    print(done[2])
            else:
                summary = job.apply(context, done[1])
        except Exception as error:
            job.discard(str(error))
            summary = ('ERROR', f"{job.label} failed: {error}")
            traceback.print_exc()
        finally:
            self.last_summary = summary
            self._finish_state()
        if not bpy.app.background and job.push_undo and summary[0] != 'ERROR' and not cancelled:
            bpy.ops.ed.undo_push(message=job.label)
        return summary

    def _interrupted(self) -> None:
        job = self.job
        try:
            job.discard("interrupted")
        finally:
            self.last_summary = ('INFO', f"{job.label} was interrupted; nothing was changed")
            self._finish_state()

    def _finish_state(self) -> None:
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        self.job = None
        self._thread = None
        self._messages = queue.Queue()
        for listener in self.listeners:
            listener(None)

    def _run_synchronously(self, context) -> tuple[str, str]:
        def report(progress: Progress):
            self.latest = progress
            print(f"[Design Space] {self.job.label}: {progress.history.get('line') or progress.message}", flush=True)
            for listener in self.listeners:
                listener(progress)

        try:
            done = ("done", self.job.work(report, self._cancel.is_set))
        except Exception as error:
            done = ("error", error, traceback.format_exc())
        except BaseException:  # Ctrl+C or SystemExit: stop the job's worker, remove its files, then let it through
            self._interrupted()
            raise
        summary = self._complete(context, done)
        if done[0] == "error" and summary[0] == 'ERROR':
            raise done[1]
        return summary


def start_and_report(operator, job: Job, context) -> None:
    """Start `job`; report that it runs in the background, or (headless) how it ended."""
    summary = runner.start(job, context)
    if summary is None:
        operator.report({'INFO'}, f"{job.label} started; progress shows in the Design Space panel")
    else:
        operator.report({summary[0]}, summary[1])


def show_progress(progress: Progress | None) -> None:
    """Mirror the runner's state into the window manager's job state, the status bar and panels."""
    wm = bpy.context.window_manager
    state = getattr(wm, "design_space_job", None)
    if state is None:
        return
    if progress is None:
        set_quietly(state, running=False, progress=0.0, message="",
                    last_result=runner.last_summary[1] if runner.last_summary else "")
        status = None
    else:
        set_quietly(state, running=True, label=runner.job.label if runner.job else state.label,
                    progress=100.0 * min(max(progress.fraction, 0.0), 1.0), message=progress.message)
        line = progress.history.get("line") or progress.message
        status = f"{state.label}: {line}   (Esc or Cancel in the Design Space panel stops it)"
    for window in wm.windows:
        window.workspace.status_text_set(status)


def set_quietly(group, **values) -> None:
    """Set add-on properties (strings, numbers, booleans) of `group` as raw values and redraw the sidebars.

    Assigning them through RNA redraws the whole window (an NC_WINDOW notifier), every 3D viewport
    included: a slow frame on a software-rendered screen, for values only the sidebar shows."""
    for key, value in values.items():
        group[key] = value
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == 'VIEW_3D':
                for region in area.regions:
                    if region.type == 'UI':
                        region.tag_redraw()
            elif area.type in {'IMAGE_EDITOR', 'PROPERTIES'}:
                area.tag_redraw()


runner = JobRunner()


class StepReporter:
    """Relays a pure loop's progress(fraction, message) calls to a job's `report` as Progress: each
    phase fills its span of the bar, and a report goes out only when the bar moved by `min_step` or
    `min_seconds` passed, so that a headless run prints a few dozen lines, not thousands."""

    def __init__(self, report, min_step: float = 0.05, min_seconds: float = 0.5):
        self.report, self.min_step, self.min_seconds = report, min_step, min_seconds
        self.sent_fraction, self.sent_at = -1.0, 0.0

    def phase(self, start: float, end: float):
        """A progress(fraction, message) callback whose 0..1 fills [start, end] of the bar."""
        def progress(fraction: float, message: str) -> None:
            self.send(start + (end - start) * min(max(float(fraction), 0.0), 1.0), message)

        return progress

    def send(self, fraction: float, message: str, force: bool = False) -> None:
        """Report now if the bar moved enough or enough time passed (always with `force`: a new phase)."""
        now = time.perf_counter()
        if force or fraction - self.sent_fraction >= self.min_step or now - self.sent_at >= self.min_seconds:
            self.sent_fraction, self.sent_at = fraction, now
            self.report(Progress(fraction, message))


class JobOperator:
    """Mixin for an operator that starts a job: from the window, Esc cancels it and the operator
    ends (one undo step) when the job has ended; headless, the job has run to its end in `execute`.
    Subclasses define `job(context) -> Job`, which reads the scene and raises ValueError for bad
    input; the job sets `applied` when it wrote its result."""

    def _start(self, context):
        job = self.job(context)
        return job, runner.start(job, context)

    def _report_summary(self, summary) -> None:
        if summary:
            self.report({summary[0]}, summary[1])

    def _execute(self, context):
        job, summary = self._start(context)
        if summary is None:
            self.report({'INFO'}, f"{job.label} started; progress shows in the Design Space panel")
            return {'FINISHED'}
        self._report_summary(summary)  # headless: it has run to its end (or was cancelled)
        return {'FINISHED'} if job.applied else {'CANCELLED'}

    def _invoke(self, context, event):
        job, summary = self._start(context)
        if summary is not None:  # background mode: already done
            self._report_summary(summary)
            return {'FINISHED'}
        job.push_undo = False  # this operator's own end makes the undo step
        self._job = job
        self._timer = context.window_manager.event_timer_add(0.2, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    execute = reports_errors(_execute)
    invoke = reports_errors(_invoke)

    def modal(self, context, event):
        if runner.job is not self._job:
            context.window_manager.event_timer_remove(self._timer)
            self._report_summary(runner.last_summary)
            return {'FINISHED'} if getattr(self._job, "applied", False) else {'CANCELLED'}
        if event.type == 'ESC' and event.value == 'PRESS':
            runner.cancel()
            return {'RUNNING_MODAL'}
        return {'PASS_THROUGH'}


@bpy.app.handlers.persistent
def stop_job_on_file_load(*_):
    """Another .blend is being opened: the running job's results belong to the old one."""
    if runner.running:
        runner.job.discard("another file was opened")
        runner.cancel()
        runner.abandon()


def discard_job_at_exit() -> None:
    """Blender is quitting: a running job's worker process and files must not outlive it."""
    if runner.job is not None:
        runner.cancel()
        thread = runner._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout=5.0)  # jobs poll the cancel often; a thread still computing at exit can crash
        runner.job.discard("Blender is quitting")


def register():
    atexit.register(discard_job_at_exit)  # registering twice is harmless: the second call finds no job
    if show_progress not in runner.listeners:
        runner.listeners.append(show_progress)
    bpy.app.handlers.load_pre.append(stop_job_on_file_load)


def unregister():
    if stop_job_on_file_load in bpy.app.handlers.load_pre:
        bpy.app.handlers.load_pre.remove(stop_job_on_file_load)
    runner.shutdown()
    runner.listeners.clear()
    atexit.unregister(discard_job_at_exit)
