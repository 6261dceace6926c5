"""pole_agent: the daemon that runs on an S-Pole school-zone smart pole."""

__version__ = "0.1.0"
