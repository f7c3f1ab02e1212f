"""The engine every command stands on, in five rooms, each importing only the rooms listed before it:

- `results`: what a check finds, as typed records (`records`), a class's gradebook, text made safe to show;
- `reading`: a submission read from its file, and each exercise's answer found in it;
- `exercises`: the API packs are written against: an exercise, its forward pass, its truth, its
  training loop, and the registry of packs;
- `isolation`: the learner's code run in a worker process of its own, behind bars, over typed messages;
- `judging`: the trials on every instance, the diagnosis of what is wrong, exercise 4's training twin.

The commands (`check`, `grade`, `report`) and the packs stand above it; nothing here imports them.
"""
