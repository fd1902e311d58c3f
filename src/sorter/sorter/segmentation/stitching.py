"""Stream segmentation of dual-energy XRT strips, stitched across strip borders.

Stitching (each particle reported exactly once). The detector delivers strips of a few
hundred lines; a rock may cross one or several strip borders. The segmenter keeps a rolling
buffer of rows (pixels, per-row stamp / encoder / pitch / strip index, and a per-pixel "live"
state) and labels buffer + new strip together:

* a component touching the last row may continue in the next strip: it is *open* and its
  rows are carried to the next push;
* every other component is *complete*: it is split (watershed) and emitted, and its pixels in
  carried rows are blanked (live state 0), so they can never be reported twice;
* a pixel's foreground decision is taken once, when its strip arrives, and frozen: carried
  rows are never re-thresholded, so a blob that was complete cannot grow afterwards;
* an open component whose rows would span more than max_carry_strips strips is *forced out*
  (a jam, or a long object lying along the belt): it is emitted with forced_out=True and its
  last-row pixels stay in the buffer as *connectors*. Whatever connects to a connector in the
  next strips is its continuation and is emitted with forced_out=True as well (never as a new,
  independent particle), so a jam produces flagged pieces, not a stream of false particles;
* a gap in the strip index (a lost strip) breaks the chain: open components are flushed as
  truncated particles and the buffer restarts; nothing is stitched across missing rows.

The foreground is a threshold on the (median-smoothed) high-energy channel: the high channel
sees through thick rocks without saturating and its ln(I0/I) is ~proportional to areal density.
Complete components are split into particles by watershed.py. No ROS import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from sorter.segmentation.core import (
    SegmentationConfig,
    SegmentationResult,
    SegmentedParticle,
    Strip,
    validate_strip,
)
from sorter.segmentation.watershed import (
    merge_small,
    peak_candidates,
    seed_markers,
    split_touching,
    watershed_batch,
)

_OPEN = 1  # live state: pixel of an open (carried) component
_CONNECTOR = 2  # live state: last-row pixel of a forced-out component (connects, never emitted)


@dataclass
class _Frame:
    """Carried rows followed by the new strip's rows, with per-row metadata."""

    low: np.ndarray
    high: np.ndarray
    live: np.ndarray  # uint8: 0 / _OPEN / _CONNECTOR for carried rows, fg (1) for new rows
    row_stamp: np.ndarray
    row_encoder: np.ndarray
    row_pitch: np.ndarray
    row_strip: np.ndarray
    new_start: int  # first row of the new strip
    fresh: bool  # no rows before row 0 (stream start or after a reset): row 0 may cut rocks


@dataclass
class _Counters:
    strips: int = 0
    particles: int = 0
    forced_out: int = 0
    gap_resets: int = 0
    lost_strips: int = 0
    dropped_small: int = 0
    rejected_strips: int = 0


class StripSegmenter:
    """Segments a stream of strips; each particle is returned once, by the push completing it.

    Not thread-safe: one instance per stream. Counters (cumulative, survive reset()) are exposed
    through `counters` for diagnostics.
    """

    def __init__(self, config: SegmentationConfig):
        self.config = config
        self.counters = _Counters()
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the stream (buffer, last index/stamp/encoder, width); counters are kept."""
        self._width: int | None = None
        self._last_index: int | None = None
        self._last_line_stamp = -math.inf
        self._last_line_encoder = -math.inf
        self._buffer: _Frame | None = None

    @property
    def carried_rows(self) -> int:
        """Rows held for the next push (grows while a long object or a jam is carried)."""
        return 0 if self._buffer is None else int(self._buffer.low.shape[0])

    @property
    def forced_out_total(self) -> int:
        """Jammed blobs forced out since construction (same as counters.forced_out)."""
        return self.counters.forced_out

    # ------------------------------------------------------------------ push
    def push(self, strip: Strip) -> SegmentationResult:
        """Segment one strip; returns the particles completed by it (and any flushed ones).

        A rejected strip (ValueError) leaves the segmenter unchanged; the next good strip then
        shows an index gap and restarts the buffer, which is the safe outcome.
        """
        try:
            low, high = validate_strip(strip)
            self._check_order(strip, low.shape[1])
        except ValueError:
            self.counters.rejected_strips += 1
            raise
        cfg = self.config
        index = int(strip.index)
        lines, width = high.shape

        particles: list[SegmentedParticle] = []
        lost = 0
        forced = 0
        dropped = 0
        if self._last_index is not None and index != self._last_index + 1:
            lost = index - self._last_index - 1
            self.counters.gap_resets += 1
            self.counters.lost_strips += lost
            if self._buffer is not None:
                flushed, f_dropped = self._flush(self._buffer, index)
                particles.extend(flushed)
                dropped += f_dropped
            self._buffer = None

        # per-row metadata of the new strip
        r = np.arange(lines, dtype=np.float64)
        new_stamp = float(strip.stamp_s) + r * float(strip.line_period_s)
        new_encoder = float(strip.encoder_m) + r * float(strip.line_pitch_m)
        fg = self._foreground(high)

        new_pitch = np.full(lines, float(strip.line_pitch_m))
        new_strip = np.full(lines, index, dtype=np.int64)
        buf = self._buffer
        if buf is None:
            frame = _Frame(
                low=low, high=high, live=fg,
                row_stamp=new_stamp, row_encoder=new_encoder,
                row_pitch=new_pitch, row_strip=new_strip,
                new_start=0, fresh=True,
            )
        else:
            frame = _Frame(
                low=np.concatenate([buf.low, low]),
                high=np.concatenate([buf.high, high]),
                live=np.concatenate([buf.live, fg]),
                row_stamp=np.concatenate([buf.row_stamp, new_stamp]),
                row_encoder=np.concatenate([buf.row_encoder, new_encoder]),
                row_pitch=np.concatenate([buf.row_pitch, new_pitch]),
                row_strip=np.concatenate([buf.row_strip, new_strip]),
                new_start=buf.low.shape[0], fresh=False,
            )

        n_rows = frame.low.shape[0]
        n_lab, labels, stats, _ = cv2.connectedComponentsWithStats(
            (frame.live > 0).view(np.uint8), connectivity=8, ltype=cv2.CV_32S
        )
        next_live = np.zeros((n_rows, width), np.uint8)
        open_tops: list[int] = []
        dist, multi_peak = peak_candidates(frame.live, labels, n_lab, cfg.split_min_distance_px)
        to_split: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray, int, bool]] = []
        occupied = int(np.count_nonzero(fg))
        a_h_sum = float(high[fg.view(bool)].sum(dtype=np.float64)) if occupied else 0.0

        for k in range(1, n_lab):
            x, y, w, h, _area = (int(v) for v in stats[k])
            win = (slice(y, y + h), slice(x, x + w))
            comp = labels[win] == k
            if y < frame.new_start:
                conn = comp & (frame.live[win] == _CONNECTOR)
                has_conn = bool(conn.any())
            else:
                conn, has_conn = None, False
            pix = comp & ~conn if has_conn else comp

            if y + h == n_rows:  # touches the last row: may continue in the next strip
                span = index - int(frame.row_strip[y]) + 1
                if span > cfg.max_carry_strips:
                    forced += 1
                    particles.extend(
                        self._emit(frame, y, x, [pix], index, touching=False, forced_out=True,
                                   truncated=frame.fresh and y == 0)
                    )
                    last = next_live[n_rows - 1, x : x + w]
                    last[comp[-1]] = _CONNECTOR
                else:
                    sub = next_live[win]
                    sub[pix] = _OPEN
                    if has_conn:
                        sub[conn] = _CONNECTOR
                    open_tops.append(y)
                continue

            n_pix = int(np.count_nonzero(pix))
            if n_pix < cfg.min_area_px:
                dropped += 1
                if y + h > frame.new_start:  # remove its new-row pixels from the occupancy
                    top = max(0, frame.new_start - y)
                    part = pix[top:]
                    occupied -= int(np.count_nonzero(part))
                    a_h_sum -= float(frame.high[win][top:][part].sum(dtype=np.float64))
                continue
            truncated = frame.fresh and y == 0
            if has_conn:
                particles.extend(self._emit(frame, y, x, [pix], index, touching=False,
                                            forced_out=True, truncated=truncated))
            else:
                markers, n_seeds = None, 0
                if multi_peak[k] and n_pix >= 2 * cfg.min_area_px:
                    d = dist[y : y + h + 2, x : x + w + 2].copy()
                    d[1:-1, 1:-1][~pix] = 0.0
                    d[0], d[-1], d[:, 0], d[:, -1] = 0.0, 0.0, 0.0, 0.0
                    markers, n_seeds = seed_markers(d, cfg.split_min_distance_px,
                                                    cfg.split_h_px, cfg.split_h_rel)
                if markers is None:
                    particles.extend(self._emit(frame, y, x, [pix], index, touching=False,
                                                forced_out=False, truncated=truncated))
                else:
                    to_split.append((y, x, pix, d, markers, n_seeds, truncated))

        # one watershed call for all clusters of this push (per-call overhead dominated)
        basins = watershed_batch([(d, m) for _y, _x, _p, d, m, _n, _t in to_split])
        for (y, x, _pix, _d, _m, n_seeds, truncated), ws in zip(to_split, basins, strict=True):
            pieces = merge_small(ws, n_seeds, cfg.min_area_px)
            particles.extend(self._emit(frame, y, x, pieces, index, touching=len(pieces) > 1,
                                        forced_out=False, truncated=truncated))

        # carry: from the top of the earliest open component, and always the last
        # max(1, smoothing) rows (median context for the next strip's first rows, connectors)
        context = max(1, cfg.smoothing_px)
        start = min([n_rows - context, *open_tops])
        start = max(0, start)
        self._buffer = _Frame(
            low=frame.low[start:].copy(), high=frame.high[start:].copy(),
            live=next_live[start:].copy(),
            row_stamp=frame.row_stamp[start:].copy(), row_encoder=frame.row_encoder[start:].copy(),
            row_pitch=frame.row_pitch[start:].copy(), row_strip=frame.row_strip[start:].copy(),
            new_start=0, fresh=False,
        )
        self._width = width
        self._last_index = index
        self._last_line_stamp = float(new_stamp[-1])
        self._last_line_encoder = float(new_encoder[-1])

        particles.sort(key=lambda p: (p.first_line_stamp_s, p.y_min_m))
        for i, p in enumerate(particles):
            p.local_index = i
        c = self.counters
        c.strips += 1
        c.particles += len(particles)
        c.forced_out += forced
        c.dropped_small += dropped
        return SegmentationResult(
            particles=particles,
            occupancy=max(0, occupied) / float(lines * width),
            attenuation_high_sum=a_h_sum,
            forced_out=forced,
            lost_strips=lost,
            dropped_small=dropped,
            carried_rows=self._buffer.low.shape[0],
        )

    # ------------------------------------------------------------------ helpers
    def _check_order(self, strip: Strip, width: int) -> None:
        if self._last_index is None:
            return
        idx = int(strip.index)
        if idx <= self._last_index:
            kind = "repeated" if idx == self._last_index else "going backwards"
            raise ValueError(
                f"strip index {idx} {kind}: the previous strip was {self._last_index}"
            )
        if not float(strip.stamp_s) > self._last_line_stamp:
            raise ValueError(
                f"strip {idx}: stamp {strip.stamp_s:.9f} s is not after the last line of strip "
                f"{self._last_index} ({self._last_line_stamp:.9f} s): time going backwards"
            )
        if float(strip.encoder_m) < self._last_line_encoder:
            raise ValueError(
                f"strip {idx}: encoder {strip.encoder_m:.6f} m is before the last line of strip "
                f"{self._last_index} ({self._last_line_encoder:.6f} m): encoder going backwards"
            )
        if width != self._width:
            raise ValueError(
                f"strip {idx}: {width} pixels per line, the stream has {self._width} "
                "(reset() the segmenter to change detector width)"
            )

    def _foreground(self, high: np.ndarray) -> np.ndarray:
        """Frozen foreground decision for the new rows (uint8 0/1), with the carried context."""
        cfg = self.config
        r = cfg.smoothing_px
        if r == 0:
            smooth = high
        else:
            ctx = 0
            stack = high
            if self._buffer is not None:
                ctx = min(r, self._buffer.high.shape[0])
                if ctx:
                    stack = np.concatenate([self._buffer.high[-ctx:], high])
            smooth = cv2.medianBlur(stack, 2 * r + 1)[ctx:]
        return (smooth > cfg.attenuation_threshold).view(np.uint8)

    def _flush(self, buf: _Frame, index: int) -> tuple[list[SegmentedParticle], int]:
        """Emit the open components of the buffer as truncated particles (a strip was lost)."""
        cfg = self.config
        n_lab, labels, stats, _ = cv2.connectedComponentsWithStats(
            (buf.live > 0).view(np.uint8), connectivity=8, ltype=cv2.CV_32S
        )
        out: list[SegmentedParticle] = []
        dropped = 0
        for k in range(1, n_lab):
            x, y, w, h, _area = (int(v) for v in stats[k])
            win = (slice(y, y + h), slice(x, x + w))
            comp = labels[win] == k
            conn = comp & (buf.live[win] == _CONNECTOR)
            has_conn = bool(conn.any())
            pix = comp & ~conn
            if np.count_nonzero(pix) < cfg.min_area_px:
                dropped += 1
                continue
            pieces = [pix] if has_conn else split_touching(
                pix, cfg.split_min_distance_px, cfg.split_h_px, cfg.min_area_px,
                h_rel=cfg.split_h_rel)
            out.extend(self._emit(buf, y, x, pieces, index, touching=len(pieces) > 1,
                                  forced_out=has_conn, truncated=True))
        return out, dropped

    def _emit(self, frame: _Frame, y0: int, x0: int, pieces: list[np.ndarray], index: int,
              touching: bool, forced_out: bool, truncated: bool) -> list[SegmentedParticle]:
        pitch = self.config.pixel_pitch_m
        out = []
        for piece in pieces:
            # cv2 calls instead of numpy reductions: numpy's per-call overhead dominates on the
            # small crops of a frame with hundreds of particles
            m8 = np.ascontiguousarray(piece, dtype=np.uint8)
            c0, r0, w, h = cv2.boundingRect(m8)
            if w == 0 or h == 0:
                continue
            m = m8[r0 : r0 + h, c0 : c0 + w].copy()
            mo = cv2.moments(m, binaryImage=True)
            n_px = int(round(mo["m00"]))
            gy0, gx0 = y0 + r0, x0 + c0
            gy1, gx1 = gy0 + h, gx0 + w
            # centroid row as a continuous line coordinate (line r spans [r, r + 1)) -> encoder
            rho = gy0 + mo["m01"] / mo["m00"] + 0.5
            i = min(int(rho), gy1 - 1)
            centroid_encoder = float(frame.row_encoder[i] + (rho - i) * frame.row_pitch[i])
            leading = float(frame.row_encoder[gy0])
            trailing = float(frame.row_encoder[gy1 - 1] + frame.row_pitch[gy1 - 1])
            lo = frame.low[gy0:gy1, gx0:gx1] * m
            hi = frame.high[gy0:gy1, gx0:gx1] * m
            out.append(SegmentedParticle(
                local_index=0,
                first_line_stamp_s=float(frame.row_stamp[gy0]),
                last_line_stamp_s=float(frame.row_stamp[gy1 - 1]),
                leading_edge_encoder_m=leading,
                trailing_edge_encoder_m=trailing,
                centroid_encoder_m=centroid_encoder,
                y_min_m=gx0 * pitch,
                y_max_m=gx1 * pitch,
                centroid_y_m=(gx0 + mo["m10"] / mo["m00"] + 0.5) * pitch,
                mask=m,
                attenuation_low=lo,
                attenuation_high=hi,
                touching=touching,
                strip_index=index,
                pixel_along_m=(trailing - leading) / h,
                pixel_across_m=pitch,
                area_px=n_px,
                forced_out=forced_out,
                truncated=truncated,
            ))
        return out
