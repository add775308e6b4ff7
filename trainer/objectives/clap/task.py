"""The `clap_prototypes` pre-training objective (CLAP, arXiv 2412.03059): render the masked scene, align the
modalities through learnable prototypes.

One step:
1. the LiDAR backbone encodes a block-masked scan (`masking`); its voxel features are max-pooled into a coarse
   dense volume and through a 3D neck; with cameras, a small image encoder's features of patch-masked images are
   lifted onto the same volume through the calibration (`cameras`), through a neck of their own, and added
   (UniPAD's fusion by summation);
2. a render conv and the surface field (`field`) decode SDF, colour and intensity from that volume; among
   `rays.candidates` returns per frame, `rays.rays` are drawn by curvature (`curvature`, uniform during the
   warm-up) and rendered NeuS-style (`rendering`): depth and intensity L1 on LiDAR rays (from the sensor), depth
   and colour L1 on camera rays (from the camera centre through the same returns, as UniPAD casts its rays);
3. at the drawn returns, the LiDAR embedding (from the LiDAR volume) and the camera embedding (from the camera
   volume), each through SwAV's projection head -- or, in the LiDAR-only variant (`camera: false`), the LiDAR
   embeddings of two independently masked views of the scan -- swap their Sinkhorn codes over K prototypes
   (`prototypes`), with the EM-style prototype step and the Gram regulariser.

Evaluation draws the first `rays.rays` candidates of each frame (a seeded uniform draw, the same for every
checkpoint), so depth errors compare across sampling strategies at equal ray budget; it reports depth /
intensity / colour L1, prototypes in use, code entropy and Sinkhorn-code agreement next to chance (1 / K).

Only `backbone.` is what fine-tuning loads; the image encoder, the field and the prototypes are pre-training
only. Reconstructed choices are named in each module's docstring and in docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spot.runtime import SpotInputError

from ...engine.task import TASK_TARGETS, DatasetInfo, Task, TrainingFrame
from ...models.image_encoder import ImageEncoder, ImageEncoderConfig
from ...schema import VOXEL_FEATURES, Invalid, bounded, data_sections, require_features
from ..batching import coarser_grid, grid_stride, voxel_batch
from .cameras import first_camera_seeing, lift_image_features, mask_patches, stack_cameras
from .curvature import RaySampling, RaySamplingConfig, draw_rays, normal_divergence
from .field import SurfaceField, pool_to_volume
from .masking import block_mask
from .prototypes import PrototypeConfig, Prototypes, Swap, projection_head, prototype_histogram, prototype_usage
from .rendering import NeuSRenderer, RenderConfig

MIN_RAY_LENGTH = 1.0  # metres beyond the near plane a return must lie to be a ray target (UniPAD drops < 3 m)


@dataclass
class ClapConfig:
    """camera: the LiDAR + camera objective (false: the LiDAR-only variant, two masked views swap codes);
    mask_ratio / mask_block: UniPAD's block masking of the input (ratio 0.8, 8-voxel blocks; CLAP notes 0.9);
    image_mask_ratio: image patches zeroed (UniPAD 0.3); volume_voxel_size: the dense volume's cells (a whole
    multiple of the input voxels); volume_channels / decoder_hidden: its width and the decoders'."""

    camera: bool = True
    mask_ratio: float = bounded(0.8, ge=0, lt=1)
    mask_block: int = bounded(8, ge=1)
    image_mask_ratio: float = bounded(0.3, ge=0, lt=1)
    volume_voxel_size: list[float] = bounded(default_factory=lambda: [0.6, 0.6, 0.6], gt=0, length=3)
    volume_channels: int = bounded(32, ge=1)
    decoder_hidden: int = bounded(32, ge=1)
    image_encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    rays: RaySamplingConfig = field(default_factory=RaySamplingConfig)
    prototypes: PrototypeConfig = field(default_factory=PrototypeConfig)

    def check(self) -> None:
        if self.rays.candidates < self.rays.rays:
            raise Invalid("rays.candidates", f"expected at least rays.rays ({self.rays.rays})", self.rays.candidates)

    def check_experiment(self, experiment, key: str) -> None:
        require_features(experiment, VOXEL_FEATURES)  # the volume pools per-voxel features
        fine = experiment.voxelization.voxel_size
        if grid_stride(self.volume_voxel_size, fine) is None:
            raise Invalid(f"{key}.volume_voxel_size", f"expected a whole multiple of voxelization.voxel_size {fine}",
                          self.volume_voxel_size)  # fmt: skip
        if self.camera:
            for data_key, component in data_sections(experiment):
                if not getattr(component.config, "cameras", None):
                    raise Invalid(f"{data_key}.cameras", "is not set: clap_prototypes with camera: true needs camera "
                                  "frames (or set objective.camera: false for the LiDAR-only variant)")  # fmt: skip


@dataclass(frozen=True)
class StepResult:
    """Per-ray errors and the embeddings' scores of one step (training reduces them to means, evaluation sums)."""

    depth_error: torch.Tensor  # (R_l + R_c,) metres, LiDAR and camera rays
    intensity_error: torch.Tensor  # (R_l,)
    colour_error: torch.Tensor  # (R_c,) mean over RGB
    swap: Swap | None  # the prototypes' losses, statistics, scores and codes (None: prototypes disabled)


class ClapTask(Task):
    def __init__(self, backbone: nn.Module, info: DatasetInfo, config: ClapConfig):
        super().__init__(backbone, info)
        self.config = config
        self.volume_grid, self.stride = coarser_grid(info.grid, config.volume_voxel_size)
        width = config.volume_channels
        self.lidar_neck = volume_neck(backbone.out_channels, width)
        if config.camera:
            self.image_encoder = ImageEncoder(config.image_encoder)
            self.camera_neck = volume_neck(self.image_encoder.out_channels, width)
        self.render_conv = volume_neck(width, width)
        self.field = SurfaceField(self.volume_grid, width, config.decoder_hidden)
        self.renderer = NeuSRenderer(info.grid, config.render)
        p = config.prototypes
        if p.enabled:
            self.prototypes = Prototypes(p)
            self.lidar_head = projection_head(width, p.head_hidden, p.dim)
            if config.camera:
                self.camera_head = projection_head(width, p.head_hidden, p.dim)
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))  # warm-up and freeze clocks
        self.register_buffer("cell_centres", self._cell_centres(), persistent=False)

    def _cell_centres(self) -> torch.Tensor:
        """(Z * Y * X, 3) x y z metres of the volume's cells, in the volume's memory order."""
        nz, ny, nx = self.volume_grid.grid_shape
        low = torch.tensor(self.volume_grid.point_cloud_range[:3])
        size = torch.tensor(self.volume_grid.voxel_size)
        z, y, x = torch.meshgrid(torch.arange(nz), torch.arange(ny), torch.arange(nx), indexing="ij")
        return low + (torch.stack([x, y, z], dim=-1).reshape(-1, 3).float() + 0.5) * size

    @property
    def views(self) -> int:
        """Masked views of each scan in a batch: one with cameras, two in the LiDAR-only variant."""
        return 1 if self.config.camera else 2

    def collate(self, frames: Sequence[TrainingFrame]) -> dict[str, torch.Tensor]:
        c = self.config
        rngs = [frame.rng(TASK_TARGETS) for frame in frames]
        masked = [
            _masked(frame.sample, block_mask(frame.sample.scan.xyz, self.info.grid, c.mask_block, c.mask_ratio, rng))
            for _ in range(self.views)
            for frame, rng in zip(frames, rngs, strict=True)
        ]  # view v of frame b is batch entry v * B + b
        batch = voxel_batch(masked, self.info.grid)
        chosen = [self._candidates(frame, rng) for frame, rng in zip(frames, rngs, strict=True)]
        xyz = [frame.sample.scan.xyz[index] for frame, index in zip(frames, chosen, strict=True)]
        batch["ray_points"] = torch.from_numpy(np.concatenate(xyz).astype(np.float32))
        batch["ray_frame"] = torch.from_numpy(np.concatenate([np.full(len(i), b) for b, i in enumerate(chosen)]))
        batch["ray_intensity"] = torch.from_numpy(
            np.concatenate([f.sample.scan.intensity[i] for f, i in zip(frames, chosen, strict=True)]).astype(np.float32)
        )
        if c.camera:
            batch.update(stack_cameras([frame.cameras for frame in frames], frames[0].sample.source))
            seen = [first_camera_seeing(frame.cameras, points) for frame, points in zip(frames, xyz, strict=True)]
            batch["ray_camera_seen"] = torch.from_numpy(np.concatenate([s[0] for s in seen]) >= 0)
            batch["ray_camera_origin"] = torch.from_numpy(np.concatenate([s[1] for s in seen]))
            batch["ray_colour"] = torch.from_numpy(np.concatenate([s[2] for s in seen]))
        return batch

    def _candidates(self, frame: TrainingFrame, rng: np.random.Generator) -> np.ndarray:
        """Indices of up to `rays.candidates` returns inside the grid and beyond the near plane, in random order."""
        xyz = frame.sample.scan.xyz
        low, high = np.array(self.info.grid.point_cloud_range[:3]), np.array(self.info.grid.point_cloud_range[3:])
        usable = ((xyz > low) & (xyz < high)).all(1) & (
            np.linalg.norm(xyz, axis=1) > self.config.render.near + MIN_RAY_LENGTH
        )
        index = np.flatnonzero(usable)
        if len(index) == 0:
            raise SpotInputError("no return inside the voxel grid to render", source=frame.sample.source)
        return rng.permutation(index)[: self.config.rays.candidates]

    def _volumes(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(the LiDAR volume (V B, C, Z, Y, X), the camera volume (B, C, Z, Y, X) or None, the volume the field
        decodes (V B, C, Z, Y, X)). The LiDAR volume is the pooled backbone features through a 3D neck, which
        also carries features into the cells the mask emptied; the camera volume the lifted image features
        through its own."""
        sparse = self.backbone(self.network_input(batch))
        lidar = self.lidar_neck(pool_to_volume(sparse, self.stride, self.volume_grid.grid_shape))
        camera = None
        if self.config.camera:
            images = batch["images"]
            b, n = images.shape[:2]
            images = mask_patches(images, self.image_encoder.stride, self.config.image_mask_ratio)
            features = self.image_encoder(images.flatten(0, 1)).unflatten(0, (b, n))
            size = tuple(images.shape[-2:])
            calibration = batch["intrinsics"], batch["cam_from_lidar"]
            lifted = lift_image_features(features, *calibration, size, self.cell_centres)
            camera = self.camera_neck(lifted.view(b, -1, *self.volume_grid.grid_shape))
        return lidar, camera, self.render_conv(lidar if camera is None else lidar + camera)

    def _step(self, batch: dict[str, torch.Tensor]) -> StepResult:
        c = self.config
        lidar, camera, volume = self._volumes(batch)
        points, frame = batch["ray_points"], batch["ray_frame"].long()
        curvature = None
        warm = self.steps_done >= c.rays.warmup_steps
        if self.training and c.rays.strategy is RaySampling.curvature and warm:
            with torch.no_grad():
                sdf = lambda x: self.field.sdf(volume.detach(), x, frame)  # noqa: E731
                curvature = normal_divergence(sdf, points, c.rays.step)
        chosen = draw_rays(frame, c.rays.rays, curvature, c.rays.uniform_share)
        points, frame = points[chosen], frame[chosen]
        num_frames = int(batch["batch_size"]) // self.views

        # LiDAR rays, from the sensor through the returns, in every view's volume.
        length = points.norm(dim=1)
        directions = points / length[:, None]
        view_frames = torch.cat([frame + v * num_frames for v in range(self.views)])
        lidar_rays = self.renderer(self.field, volume, view_frames, torch.zeros_like(points).repeat(self.views, 1),
                                   directions.repeat(self.views, 1))  # fmt: skip
        depth_error = [(lidar_rays.depth - length.repeat(self.views)).abs()]
        intensity_error = (lidar_rays.intensity - batch["ray_intensity"][chosen].repeat(self.views)).abs()
        colour_error = points.new_zeros(0)
        seen = batch["ray_camera_seen"][chosen] if c.camera else None
        if c.camera and seen.any():
            origins = batch["ray_camera_origin"][chosen][seen]
            offset = points[seen] - origins
            distance = offset.norm(dim=1)
            camera_rays = self.renderer(self.field, volume, frame[seen], origins, offset / distance[:, None])
            depth_error.append((camera_rays.depth - distance).abs())
            colour_error = (camera_rays.colour - batch["ray_colour"][chosen][seen]).abs().mean(1)

        swap = None
        if c.prototypes.enabled:
            shared = seen & (seen.sum() >= 2) if c.camera else None
            z_a, z_b = self._embeddings(lidar, camera, points, frame, shared, num_frames)
            swap = self.prototypes(z_a, z_b, frozen=bool(self.steps_done < c.prototypes.freeze_steps))
        return StepResult(torch.cat(depth_error), intensity_error, colour_error, swap)

    def _embeddings(
        self, lidar: torch.Tensor, camera: torch.Tensor | None, points: torch.Tensor, frame: torch.Tensor,
        shared: torch.Tensor | None, num_frames: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Unit embeddings (P, D) of the drawn returns in the two modalities (the returns `shared` with a camera,
        none when fewer than two: BatchNorm needs two) or in the two views (every return)."""
        if camera is None:
            z_a = self.lidar_head(self.field.sample(lidar, points, frame))
            z_b = self.lidar_head(self.field.sample(lidar, points, frame + num_frames))
        elif shared.any():
            z_a = self.lidar_head(self.field.sample(lidar, points[shared], frame[shared]))
            z_b = self.camera_head(self.field.sample(camera, points[shared], frame[shared]))
        else:
            z_a = z_b = points.new_zeros(0, self.config.prototypes.dim)
        return F.normalize(z_a, dim=1), F.normalize(z_b, dim=1)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        r, step = self.config.render, self._step(batch)
        if self.training:
            self.steps_done += 1
        depth, intensity = step.depth_error.mean(), step.intensity_error.mean()
        colour = step.colour_error.mean() if len(step.colour_error) else depth * 0
        loss = r.depth_weight * depth + r.intensity_weight * intensity + r.colour_weight * colour
        outputs = {"loss_depth": depth.detach(), "loss_intensity": intensity.detach()}
        if self.config.camera:
            outputs["loss_colour"] = colour.detach()
        if step.swap is not None:
            loss = loss + step.swap.terms["loss"]
            outputs.update({key: value for key, value in step.swap.terms.items() if key != "loss"})
        return {"loss": loss, **outputs}

    def evaluate_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        step = self._step(batch)
        count = step.depth_error.new_tensor  # statistics on the batch's device: the engine sums them over ranks
        totals = {
            "depth_abs_error": step.depth_error.double().sum(),
            "depth_rays": count(len(step.depth_error), dtype=torch.float64),
            "intensity_abs_error": step.intensity_error.double().sum(),
            "intensity_rays": count(len(step.intensity_error), dtype=torch.float64),
            "colour_abs_error": step.colour_error.double().sum(),
            "colour_rays": count(len(step.colour_error), dtype=torch.float64),
        }
        if step.swap is not None:
            codes_a, codes_b = step.swap.codes
            totals["prototype_histogram"] = prototype_histogram(step.swap.scores[0])
            totals["code_agreements"] = (codes_a.argmax(1) == codes_b.argmax(1)).double().sum()
            totals["code_pairs"] = count(len(codes_a), dtype=torch.float64)
        return totals

    def summarize(self, totals: dict[str, torch.Tensor]) -> dict[str, float]:
        metrics = {
            "depth_l1": float(totals["depth_abs_error"]) / max(float(totals["depth_rays"]), 1.0),
            "intensity_l1": float(totals["intensity_abs_error"]) / max(float(totals["intensity_rays"]), 1.0),
        }
        if self.config.camera:
            metrics["colour_l1"] = float(totals["colour_abs_error"]) / max(float(totals["colour_rays"]), 1.0)
        if self.config.prototypes.enabled:
            used, entropy = prototype_usage(totals["prototype_histogram"])
            metrics["prototypes_used"], metrics["code_entropy"] = used, entropy
            metrics["code_agreement"] = float(totals["code_agreements"]) / max(float(totals["code_pairs"]), 1.0)
            metrics["code_agreement_chance"] = 1.0 / self.config.prototypes.num
        return metrics


def volume_neck(c_in: int, c_out: int) -> nn.Sequential:
    """Conv3d 3x3x3 + BN + ReLU over a dense volume (UniPAD's `render_conv`; here also each branch's neck)."""
    return nn.Sequential(nn.Conv3d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))


def _masked(sample, keep: np.ndarray):
    """The sample's kept points, without per-point labels (pre-training reads none)."""
    return replace(sample, scan=sample.scan.select(keep), labels=None, instances=None, boxes=None)


def build_clap_task(config: ClapConfig, backbone: nn.Module, info: DatasetInfo) -> Task:
    return ClapTask(backbone, info, config)
