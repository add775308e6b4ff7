"""PPT (multi-dataset Point Prompt Training): the `ppt_segmentation` objective."""
