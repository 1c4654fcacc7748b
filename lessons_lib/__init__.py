"""lessons_lib: the helper library behind the deep-learning course notebooks.

One module per concept: ``config`` (profiles), ``device`` (device choice, seeding, provenance),
``data`` (MNIST and device-resident loaders), ``train`` (the trainer), ``ensemble`` (several seeds
trained as one model), ``inspect`` (layer tables
and receptive fields), ``plot`` (figures), ``models`` (the chapters' networks), ``reproduce``
(full-scale runs written to ``results/``) and ``execute`` (running notebooks at a profile).
"""
import time as _time

__version__ = "0.1.0"
_IMPORTED_AT = _time.time()


def report() -> None:
    """Print the profile, device, library versions and wall time since this kernel imported us.

    The last cell of every notebook calls this, so each stored output says how it was made.
    """
    from .device import environment

    env = environment()
    wall = _time.time() - _IMPORTED_AT
    print(f"profile: {env['profile']}")
    print(f"device: {env['device']}")
    print(
        "versions: python {python}, torch {torch}, torchvision {torchvision}, numpy {numpy}, "
        "matplotlib {matplotlib}, lessons_lib {lessons_lib}".format(**env)
    )
    print(f"commit: {env['commit']}")
    print(f"wall time: {wall:.1f} s")
