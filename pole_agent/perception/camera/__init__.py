"""The camera path's pure core: people and vehicles from frames (docs/camera.md).

Detectors (``pose_detector``: the shipped person detector; ``ssd_detector``: an installer's
COCO-style SSD model) turn one RGB frame held in memory into ``Detection`` boxes; the ground-plane
calibration (``calibration``) turns a box into road coordinates and a height; the tracker
(``tracker``) follows them from frame to frame; ``scene`` turns tracks into the reports of the
Detections port. Nothing here keeps a frame: each one is dropped when its detections are made.
"""
