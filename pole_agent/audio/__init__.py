"""The pole's voice: shipped clips (Korean and English speech from espeak-ng, and tones), their
manifest, and the player that sends them to the speaker (docs/warnings.md)."""
