"""Ore particles for the simulator: the X-ray generator's particle model on the detector grid.

The shapes, textures (disseminated and resolvable pay-mineral grains), size classes and
truth bookkeeping live in sorter.xrt_generator (feed_spec, particle_model, particle_raster),
shared with the dataset generator so that a trained model and the simulated cell see the same
rocks. Here they are drawn from the cell's
feed and rasterised on the detector grid (pitch p across the belt, and p along travel because
lines are triggered every p of encoder travel; sorter.sim_world.world says where samples fall).

A particle carries its path-length map `thickness_m` and its basis areal-density maps
`basis_kg_m2` (what the detector renders, beam hardening included); mass, grade and pay-mineral
mass come from the same maps. No ROS import.
"""

from __future__ import annotations

import numpy as np

from sorter.xrt_generator.feed_spec import FeedSpec
from sorter.xrt_generator.materials import MaterialLibrary, Mineral
from sorter.xrt_generator.model import XrayModel
from sorter.xrt_generator.particle_model import ParticleDrawer, profile_volume_factor
from sorter.xrt_generator.particle_raster import RasterParticle, minor_width_m, rasterise

Particle = RasterParticle

__all__ = ["FeedSpec", "Mineral", "Particle", "ParticleGenerator", "minor_width_m",
           "profile_volume_factor"]


class ParticleGenerator:
    """Draws particles from a feed on a square detector grid. Deterministic given the numpy
    Generator: the same sequence of draws gives the same particles, so a seed reproduces a
    trial's feed."""

    def __init__(self, feed: FeedSpec, pitch_m: float, model: XrayModel,
                 library: MaterialLibrary | None = None) -> None:
        if not pitch_m > 0.0:
            raise ValueError("pitch_m must be positive")
        self.feed = feed
        self.pitch_m = float(pitch_m)
        self.model = model
        self.library = library or MaterialLibrary({m.name: m for m in feed.minerals})
        self._drawer = ParticleDrawer(feed)

    def generate(self, rng: np.random.Generator, particle_id: int) -> Particle:
        """Draw one particle. All randomness comes from `rng`, in a fixed order."""
        spec = self._drawer.draw(rng, particle_id, min_diameter_m=1.5 * self.pitch_m)
        phase = rng.uniform(0.0, 1.0, 2)  # sub-pixel position of the centre on the grid
        return rasterise(spec, self.pitch_m, self.pitch_m, phase, self.model.basis_density,
                         self.feed.assay, self.library)
