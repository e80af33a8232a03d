"""Per-venue glue between the config and the sans-I/O venue modules.

An adapter plans connections, builds the venue's limiters and backoff from the config,
and says which frames are keep-alives, control replies or errors. No protocol rule is
re-implemented here: each answer comes from ``recorder.venues``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from recorder.venues import binance_usdm, upbit
from recorder.venues.base import Backoff, ConnectionPlan, Heartbeat, Verdict

from .config import ConfigError, Supervision, VenueConfig


def backoff_of(sup: Supervision) -> Backoff:
    """The venue-neutral reconnect policy from ``[supervision]``."""
    return Backoff(initial_s=sup.backoff_initial_s, factor=sup.backoff_factor,
                   max_s=sup.backoff_max_s, jitter=sup.jitter,
                   rate_limit_s=sup.rate_limit_cooldown_s, ip_ban_s=sup.ip_ban_cooldown_s)


class Adapter:
    """What the supervisor asks of a venue. Subclasses fill in the venue's answers."""

    venue = ""
    rotate_after_s: float | None = None  # open a replacement connection this long after open
    snapshots = False  # REST depth snapshots after (re)connects and gaps
    ping_interval: float | None = None  # websockets ping frames (None: venue pings us)

    def __init__(self, cfg: VenueConfig, sup: Supervision) -> None:
        self.cfg = cfg
        self.sup = sup
        self.backoff = backoff_of(sup)

    def plans(self) -> list[ConnectionPlan]:
        raise NotImplementedError

    def replan(self, plan: ConnectionPlan, index: int) -> ConnectionPlan:
        """The plan to use for the next connection of slot ``index`` (fresh tickets etc.)."""
        return plan

    def heartbeat(self) -> Heartbeat:
        raise NotImplementedError

    def classify(self, **kw: object) -> Verdict:
        raise NotImplementedError

    def keepalive(self) -> Callable[[bytes], bool] | None:
        """A test for keep-alive answers (they do not prove the feed alive), or None."""
        return None

    def frame_error(self, payload: bytes) -> str | None:
        """The venue's error text when ``payload`` is an error reply, else None."""
        return None


class BinanceUsdm(Adapter):
    venue = binance_usdm.VENUE

    def __init__(self, cfg: VenueConfig, sup: Supervision) -> None:
        super().__init__(cfg, sup)
        try:
            self.vc = binance_usdm.BinanceUsdmConfig(
                ws_url=cfg.ws_base, rest_url=cfg.rest_base,
                max_streams_per_connection=cfg.max_streams_per_connection,
                weight_limit_per_min=cfg.weight_limit_per_min, stale_after_s=sup.stale_after_s,
                rotate_after_s=cfg.rotate_after_s, snapshot_limit=cfg.snapshot_limit,
                backoff=self.backoff)
        except ValueError as exc:
            raise ConfigError(f"venue binance-usdm: {exc}") from None
        self.rotate_after_s = self.vc.rotate_after_s
        self.snapshots = cfg.snapshots and "depth" in cfg.channels

    def plans(self) -> list[ConnectionPlan]:
        return binance_usdm.plan_connections(self.cfg.symbols, self.cfg.channels, config=self.vc,
                                             subscribe=self.cfg.subscribe)

    def heartbeat(self) -> Heartbeat:
        return binance_usdm.heartbeat(self.vc)

    def classify(self, **kw: object) -> Verdict:
        return binance_usdm.classify_error(config=self.vc, **kw)  # type: ignore[arg-type]

    def frame_error(self, payload: bytes) -> str | None:
        ack = binance_usdm.parse_ack(payload)
        return None if ack is None or ack.ok else ack.error

    def depth_symbols(self, plan: ConnectionPlan) -> list[str]:
        """Symbols whose diff-depth stream the plan carries (their chain is watched)."""
        suffix = "@" + binance_usdm.CHANNELS["depth"]
        return [s.split("@", 1)[0].upper() for s in plan.streams if s.endswith(suffix)]

    def snapshot_request(self, symbol: str):  # -> RestRequest
        return binance_usdm.snapshot_request(symbol, self.vc)


class Upbit(Adapter):
    venue = upbit.VENUE

    def __init__(self, cfg: VenueConfig, sup: Supervision) -> None:
        super().__init__(cfg, sup)
        try:
            self.vc = upbit.UpbitConfig(
                ws_url=cfg.ws_base, rest_url=cfg.rest_base, format=cfg.format,
                max_codes_per_connection=cfg.max_streams_per_connection,
                ping_interval_s=cfg.ping_interval_s, stale_after_s=sup.stale_after_s,
                backoff=self.backoff)
        except ValueError as exc:
            raise ConfigError(f"venue upbit: {exc}") from None
        self.connect_limit = upbit.connect_limiter(self.vc)

    def _plans(self) -> list[ConnectionPlan]:
        # Upbit wants a unique ticket per request: a fresh one each time we plan.
        return upbit.plan_connections(self.cfg.symbols, self.cfg.channels,
                                      ticket=f"ticktape-{uuid.uuid4().hex[:12]}", config=self.vc)

    def plans(self) -> list[ConnectionPlan]:
        return self._plans()

    def replan(self, plan: ConnectionPlan, index: int) -> ConnectionPlan:
        return self._plans()[index]

    def heartbeat(self) -> Heartbeat:
        return upbit.heartbeat(self.vc)

    def classify(self, **kw: object) -> Verdict:
        return upbit.classify_error(config=self.vc, **kw)  # type: ignore[arg-type]

    def keepalive(self) -> Callable[[bytes], bool]:
        def is_up(payload: bytes) -> bool:
            return len(payload) < 24 and upbit.is_status_up(payload)

        return is_up

    def frame_error(self, payload: bytes) -> str | None:
        err = upbit.parse_error(payload)
        return None if err is None else f"{err[0]}: {err[1]}"


ADAPTERS: dict[str, type[Adapter]] = {"binance-usdm": BinanceUsdm, "upbit": Upbit}


def adapter_for(cfg: VenueConfig, sup: Supervision) -> Adapter:
    return ADAPTERS[cfg.venue](cfg, sup)
