"""What the Nuke fake's Read `colorspace` knob offers: OCIO configs as Nuke lists them.

Standard library only (the fake also runs in a bare `python -S`). The tables are snapshots, not
beliefs:

- roles and colour-space names and aliases of the ACES configs come from OCIO's own built-in
  configs (PyOpenColorIO 2.6: ``Config.CreateFromBuiltinConfig(name)``, ``getRoles()``,
  ``ColorSpace.getAliases()``), studio-config-v1.0.0_aces-v1.3_ocio-v2.1 (the config Nuke 14/15
  ship as ACES 1.3) and studio-config-v4.0.0_aces-v2.0_ocio-v2.5 (ACES 2.0, Nuke 17);
- the shape of ``nuke.getColorspaceList`` is recorded in ynput/ayon-nuke PR #60 (issue #59),
  captured in Nuke under the ACES 1.3 config: ``"default (Gamma2.2)"``, then the roles as bare
  names (``"scene_linear"``), then each space with its aliases as ``"NAME\\t\\tALIAS,ALIAS"``
  (``"ACEScg\\t\\tACES - ACEScg,lin_ap1"``). That is the "recorded" form;
- the older form in which a role carries its space, ``"role\\t(space)"`` (hosts.md §9;
  ayon-nuke ``api/colorspace.py``: "roles which uses an indentation and parentheses with
  original colorspace"), is the "role_space" form. Which Nuke versions give which form, and
  Nuke 16/17's form, are open (hosts.md §9): tests run both and the smoke script reports it.

``getColorspaceList`` itself is Foundry's ``nuke/colorspaces.py``: the knob's ``values()``,
with family prefixes ("ACES/...") stripped when the knob has STRIP_CASCADE_PREFIX.
"""
from __future__ import annotations

LIST_FORMS = ("recorded", "role_space")

# name -> {"OCIO_config", "roles": {role: space}, "spaces": {space: [aliases]}, "displays"}
CONFIGS: dict[str, dict] = {
    "aces_1.3": {
        "OCIO_config": "studio-config-v1.0.0_aces-v1.3_ocio-v2.1",
        "roles": {"aces_interchange": "ACES2065-1", "cie_xyz_d65_interchange": "CIE-XYZ-D65",
                  "color_picking": "sRGB - Texture", "color_timing": "ACEScct",
                  "compositing_log": "ACEScct", "data": "Raw",
                  "matte_paint": "sRGB - Texture", "scene_linear": "ACEScg",
                  "texture_paint": "ACEScct"},
        "spaces": {
            "ACES2065-1": ["aces2065_1", "ACES - ACES2065-1", "lin_ap0"],
            "ACEScc": ["ACES - ACEScc", "acescc_ap1"],
            "ACEScct": ["ACES - ACEScct", "acescct_ap1"],
            "ACEScg": ["ACES - ACEScg", "lin_ap1"],
            "Linear P3-D65": ["lin_p3d65", "Utility - Linear - P3-D65"],
            "Linear Rec.2020": ["lin_rec2020", "Utility - Linear - Rec.2020"],
            "Linear Rec.709 (sRGB)": ["lin_rec709_srgb", "Utility - Linear - Rec.709",
                                      "lin_rec709", "lin_srgb", "Utility - Linear - sRGB"],
            "Gamma 2.2 Rec.709 - Texture": ["g22_rec709_tx",
                                            "Utility - Gamma 2.2 - Rec.709 - Texture",
                                            "g22_rec709"],
            "sRGB - Texture": ["srgb_tx", "Utility - sRGB - Texture", "srgb_texture",
                               "Input - Generic - sRGB - Texture"],
            "Raw": ["Utility - Raw"],
            "CIE-XYZ-D65": ["cie_xyz_d65"],
            "sRGB - Display": ["srgb_display"],
            "Rec.1886 Rec.709 - Display": ["rec1886_rec709_display"],
            "ST2084-P3-D65 - Display": ["st2084_p3d65_display"],
        },
        "displays": {"sRGB - Display": ["ACES 1.0 - SDR Video", "Un-tone-mapped", "Raw"],
                     "Rec.1886 Rec.709 - Display": ["ACES 1.0 - SDR Video", "Raw"]},
    },
    "aces_2.0": {
        "OCIO_config": "studio-config-v4.0.0_aces-v2.0_ocio-v2.5",
        "roles": {"aces_interchange": "ACES2065-1",
                  "cie_xyz_d65_interchange": "CIE XYZ-D65 - Display-referred",
                  "color_picking": "sRGB Encoded Rec.709 (sRGB)", "color_timing": "ACEScct",
                  "compositing_log": "ACEScct", "data": "Raw", "matte_paint": "ACEScct",
                  "scene_linear": "ACEScg", "texture_paint": "sRGB Encoded Rec.709 (sRGB)"},
        "spaces": {
            "ACES2065-1": ["aces2065_1", "aces", "ACES - ACES2065-1", "lin_ap0",
                           "lin_ap0_scene"],
            "ACEScc": ["ACES - ACEScc", "acescc_ap1", "ocio:acescc_ap1_scene"],
            "ACEScct": ["ACES - ACEScct", "acescct_ap1", "ocio:acescct_ap1_scene"],
            "ACEScg": ["ACES - ACEScg", "lin_ap1", "lin_ap1_scene"],
            "ADX10": ["Input - ADX - ADX10", "ocio:adx10_apd_scene"],
            "Linear P3-D65": ["lin_p3d65", "lin_displayp3", "lin_p3d65_scene",
                              "Utility - Linear - P3-D65", "Linear Display P3"],
            "Linear Rec.2020": ["lin_rec2020", "lin_rec2020_scene",
                                "Utility - Linear - Rec.2020"],
            "Linear Rec.709 (sRGB)": ["lin_rec709_srgb", "lin_rec709", "lin_rec709_scene",
                                      "lin_srgb", "Utility - Linear - sRGB",
                                      "Utility - Linear - Rec.709"],
            "sRGB Encoded Rec.709 (sRGB)": ["srgb_encoded_rec709_srgb", "srgb_texture",
                                            "srgb_rec709_scene", "Utility - sRGB - Texture",
                                            "Input - Generic - sRGB - Texture",
                                            "sRGB - Texture", "srgb_tx"],
            "Gamma 2.2 Encoded Rec.709": ["g22_encoded_rec709", "g22_rec709",
                                          "Utility - Gamma 2.2 - Rec.709 - Texture",
                                          "Gamma 2.2 Rec.709 - Texture", "g22_rec709_tx",
                                          "g22_rec709_scene"],
            "Raw": ["Utility - Raw", "none"],
            "CIE XYZ-D65 - Display-referred": ["cie_xyz_d65_display", "lin_ciexyzd65_display",
                                               "ocio:lin_ciexyzd65_display"],
            "sRGB - Display": ["srgb_display", "srgb_rec709_display"],
            "Rec.1886 Rec.709 - Display": ["rec1886_rec709_display", "g24_rec709_display"],
            "ST2084-P3-D65 - Display": ["st2084_p3d65_display", "pq_p3d65_display"],
        },
        "displays": {"sRGB - Display": ["ACES 2.0 - SDR 100 nits (Rec.709)", "Un-tone-mapped",
                                        "Raw"],
                     "Rec.1886 Rec.709 - Display": ["ACES 2.0 - SDR 100 nits (Rec.709)", "Raw"]},
    },
    # aces_1.2 (OCIO v1, Nuke 13/14): no aliases; every space carries its family in its name
    # (hosts.md §2.5; ayon-nuke issue #59 says this config loads by name correctly).
    "aces_1.2": {
        "OCIO_config": "aces_1.2",
        "roles": {"scene_linear": "ACES - ACEScg", "compositing_linear": "ACES - ACEScg",
                  "rendering": "ACES - ACEScg", "aces_interchange": "ACES - ACES2065-1",
                  "color_timing": "ACES - ACEScc", "data": "Utility - Raw"},
        "spaces": {name: [] for name in (
            "ACES - ACES2065-1", "ACES - ACEScc", "ACES - ACEScct", "ACES - ACEScg",
            "Utility - Linear - sRGB", "Utility - sRGB - Texture", "Utility - Raw",
            "Output - sRGB", "Output - Rec.709")},
        "displays": {"ACES": ["sRGB", "Rec.709", "Raw"]},
    },
    # A studio's own OCIO v2 config whose scene_linear is not ACEScg: a role would misread an
    # ACEScg take, so only a role whose target is listed may stand for the take's space.
    "linear_709_studio": {
        "OCIO_config": "custom",
        "roles": {"scene_linear": "Linear Rec.709 (sRGB)",
                  "compositing_linear": "Linear Rec.709 (sRGB)", "data": "Raw"},
        "spaces": {"ACES2065-1": ["lin_ap0"], "ACEScg": ["lin_ap1"],
                   "Linear Rec.709 (sRGB)": ["lin_rec709"], "sRGB - Texture": ["srgb_tx"],
                   "Raw": [], "sRGB - Display": []},
        "displays": {"sRGB - Display": ["Standard", "Raw"]},
    },
    # nuke-default: no ACES spaces at all; nothing may be trusted for an ACES take.
    "nuke-default": {
        "OCIO_config": "nuke-default",
        "roles": {"scene_linear": "linear", "data": "raw"},
        "spaces": {name: [] for name in ("linear", "sRGB", "rec709", "Cineon", "raw")},
        "displays": {"default": ["sRGB", "rec709", "None"]},
    },
}


def colorspace_entries(config: dict, form: str = "recorded") -> list[str]:
    """The Read colorspace knob's values() (= nuke.getColorspaceList) in one of LIST_FORMS."""
    if form not in LIST_FORMS:
        raise ValueError(f"unknown list form {form!r}; one of {LIST_FORMS}")
    # ayon-nuke PR #60 shows "default (Gamma2.2)": the node's default and what it resolves to.
    entries = [f"default ({config['roles'].get('scene_linear', 'linear')})"]
    if form == "recorded":
        entries += sorted(config["roles"])
        entries += [f"{name}\t\t{','.join(aliases)}" if aliases else name
                    for name, aliases in config["spaces"].items()]
    else:
        entries += [f"{role}\t({space})" for role, space in config["roles"].items()]
        entries += list(config["spaces"])
    return entries


def knob_values(config: dict) -> set[str]:
    """What the Read colorspace knob's setValue accepts.

    "default", the roles and the spaces' names (element 0 of an entry: the value ayon-nuke sets).
    Whether Nuke also accepts an alias as the knob's value is not recorded; ayon-nuke's
    colorspace_exists_on_node counts aliases as present, so the fake accepts them too, and
    genplate never relies on it (it sets element 0).
    """
    accepted = {"default", *config["roles"], *config["spaces"]}
    for aliases in config["spaces"].values():
        accepted.update(aliases)
    return accepted


__all__ = ["CONFIGS", "LIST_FORMS", "colorspace_entries", "knob_values"]
