"""Where every Design Space panel lives: the 3D viewport's sidebar, tab "Design Space"."""


class DesignSpaceSidebar:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "Design Space"
