"""The simulator's one frozen, validated configuration object."""

from __future__ import annotations

from dataclasses import dataclass

from .captures import (
    CRYPTOFEED_BINANCE,
    CRYPTOFEED_BINANCE_FUTURES,
    CRYPTOFEED_BYBIT,
    CRYPTOFEED_GATEIO,
    CRYPTOFEED_GATEIO_FUTURES,
    CRYPTOFEED_KUCOIN,
    CRYPTOFEED_OKX,
    CRYPTOFEED_PHEMEX,
    CRYPTOFEED_UPBIT,
    HFTBACKTEST_USDM,
)

UNIVERSE_VENUES = ("binance-spot", "bybit", "okx", "gate", "kucoin", "phemex")
VENUES = ('binance-spot', 'binance-usdm', 'bybit', 'gate', 'kucoin', 'okx', 'phemex', 'upbit')
SOURCES = ("capture", "synthetic")


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulator can be told; defaults mimic the real venues.

    - ``source``: ``capture`` serves the captures' symbols from the real recordings (any
      other symbol asked for is synthetic); ``synthetic`` serves only the random market.
    - Pacing: ``speed`` scales the recordings' own timestamps (1.0 = real time), or
      ``"max"`` sends as fast as the sockets take it; ``rate`` (frames/s) sends at a
      steady rate instead, ignoring timestamps.
    - ``record_sent``: keep every frame's bytes per connection (turn off for long benchmarks;
      counts are always kept).
    - ``universe``: that many synthetic long-tail symbols listed by each named venue's
      instrument REST and streaming trades and top of book once subscribed, at the rates
      measured on the captures times ``universe_rate_scale`` (``tools.simulator.universe``).
    """

    venues: tuple[str, ...] = VENUES
    host: str = "127.0.0.1"
    ws_port: int = 0  # 0: any free port
    rest_port: int = 0
    source: str = "capture"
    speed: float | str = 1.0
    rate: float | None = None
    seed: int = 0
    start_ms: int | None = None  # exchange time of synthetic tape start; None: wall clock
    binance_captures: tuple[str, ...] = (str(HFTBACKTEST_USDM), str(CRYPTOFEED_BINANCE_FUTURES))
    upbit_captures: tuple[str, ...] = (str(CRYPTOFEED_UPBIT),)
    binance_symbols: tuple[str, ...] | None = None  # valid symbols; None: any
    upbit_codes: tuple[str, ...] | None = None  # valid codes; None: any
    record_sent: bool = True
    batch: int = 256  # events per write/yield in max and rate modes
    rotate_after_s: float | None = None  # close connections this old (Binance: 24 h)
    rotate_code: int = 1001
    binance_ping_interval_s: float | None = 180.0
    binance_pong_timeout_s: float = 600.0
    binance_max_incoming_per_s: int | None = 10
    binance_weight_limit: int | None = 2400  # USD-M REST weight per minute and address; None: unlimited
    binance_spot_weight_limit: int | None = 6000  # spot REST weight per minute and address
    binance_spot_captures: tuple[str, ...] = (str(CRYPTOFEED_BINANCE),)  # binance-spot's own market
    binance_spot_symbols: tuple[str, ...] | None = None  # valid spot symbols; None: any
    binance_spot_ping_interval_s: float | None = 20.0  # spot pings every 20 s (since 2025-01-28)
    binance_spot_pong_timeout_s: float = 60.0
    binance_spot_max_incoming_per_s: int | None = 5  # pings, pongs and control messages
    binance_ban_after: int = 5  # 429s within a minute before the address gets 418
    binance_ban_s: float = 120.0  # first 418 ban; doubles with each further ban
    bybit_captures: tuple[str, ...] = (str(CRYPTOFEED_BYBIT),)
    bybit_symbols: tuple[str, ...] | None = None  # valid "spot:X"/"linear:X" (bare: both); None: any
    bybit_idle_timeout_s: float | None = 600.0  # no ping and no data for 10 minutes: cut
    gate_captures: tuple[str, ...] = (str(CRYPTOFEED_GATEIO),)  # spot
    gate_futures_captures: tuple[str, ...] = (str(CRYPTOFEED_GATEIO_FUTURES),)
    gate_symbols: tuple[str, ...] | None = None  # valid symbols (either market); None: any
    gate_idle_timeout_s: float | None = None  # Gate's idle cut is undocumented: none by default
    kucoin_captures: tuple[str, ...] = (str(CRYPTOFEED_KUCOIN),)
    kucoin_symbols: tuple[str, ...] | None = None  # valid symbols; None: any
    kucoin_endpoint: str = "wss://ws-api-spot.kucoin.com/"  # instanceServers[0].endpoint
    kucoin_ping_interval_ms: int = 18000  # the token reply's pingInterval
    kucoin_ping_timeout_ms: int = 10000  # silent past interval + timeout: cut
    kucoin_max_incoming_per_10s: int | None = 100  # client messages per connection
    okx_captures: tuple[str, ...] = (str(CRYPTOFEED_OKX),)
    okx_symbols: tuple[str, ...] | None = None  # valid instIds; None: any well-formed one
    okx_idle_timeout_s: float | None = 30.0  # OKX cuts a connection silent both ways this long
    phemex_captures: tuple[str, ...] = (str(CRYPTOFEED_PHEMEX),)
    phemex_symbols: tuple[str, ...] | None = None  # valid symbols; None: any well-formed
    phemex_idle_timeout_s: float | None = 30.0  # no client message (ping) this long: cut
    phemex_max_subscriptions: int = 20  # per connection
    phemex_snapshot_interval_s: float | None = 60.0  # periodic book snapshots (tape time); None: none
    upbit_idle_timeout_s: float | None = 120.0
    upbit_rest_per_s: int | None = 10  # per group and client address; None: unlimited
    upbit_ban_after: int = 5  # 429s within 10 s before the address gets 418
    upbit_ban_s: float = 30.0  # first 418 block; doubles with each further block
    history_minutes: int = 2000  # REST candle history before each symbol's stream starts
    rest_latency_s: float = 0.0  # every REST reply waits this long first (a real venue's round trip)
    max_message_size: int = 2**20  # largest client message accepted
    # Synthetic long-tail symbols listed per venue ((venue, count), ...; see ``universe``)
    # and a factor on their measured per-symbol message rates.
    universe: tuple[tuple[str, int], ...] = ()
    universe_rate_scale: float = 1.0

    def __post_init__(self) -> None:
        for v in self.venues:
            if v not in VENUES:
                raise ValueError(f"unknown venue {v!r}; choose from {VENUES}")
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        if isinstance(self.speed, str):
            if self.speed != "max":
                raise ValueError("speed is a positive number or 'max'")
        elif self.speed <= 0:
            raise ValueError("speed must be > 0")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0")
        if self.rotate_after_s is not None and self.rotate_after_s <= 0:
            raise ValueError("rotate_after_s must be > 0")
        if self.batch < 1:
            raise ValueError("batch must be >= 1")
        for venue, count in self.universe:
            if venue not in UNIVERSE_VENUES or count < 0:
                raise ValueError(f"universe: {venue}={count}: a count >= 0 for one of {UNIVERSE_VENUES}")
        if self.universe_rate_scale <= 0:
            raise ValueError("universe_rate_scale must be > 0")

    @property
    def max_mode(self) -> bool:
        return self.speed == "max" and self.rate is None
