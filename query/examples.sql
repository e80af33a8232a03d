-- Example queries over the ticktape archive (run with `query sql --data DIR "..."` or
-- query.catalog.connect(DIR).sql(...)). Each statement ends with ';' at the end of a line.
-- Timestamps: ts is UTC (TIMESTAMP, µs); ts_ns is the exact receive time in ns.

-- name: minute_vwap
-- VWAP, volume and trade count per symbol per minute (record time).
SELECT venue, symbol, time_bucket(INTERVAL 1 minute, ts) AS minute,
       sum(price * size) / sum(size) AS vwap, sum(size) AS volume, count(*) AS trades
FROM trades
GROUP BY ALL
ORDER BY venue, symbol, minute;

-- name: upbit_premium
-- The Upbit "kimchi" premium of each KRW-BTC trade over Binance USD-M BTCUSDT: the
-- latest Binance book-ticker mid and the latest Upbit KRW-USDT price at that instant
-- (ASOF joins: the last row at or before the Upbit trade). Of several rows at one ts_ns the
-- last recorded (highest seq) is the one: ASOF alone would pick any of them.
WITH up AS (SELECT ts_ns, ts, price AS krw FROM trades
            WHERE venue = 'upbit' AND symbol = 'KRW-BTC'),
     fx AS (SELECT ts_ns, price AS usdt_krw FROM trades
            WHERE venue = 'upbit' AND symbol = 'KRW-USDT'
            QUALIFY row_number() OVER (PARTITION BY ts_ns ORDER BY seq DESC) = 1),
     bn AS (SELECT ts_ns, (bid_px + ask_px) / 2 AS mid FROM quotes
            WHERE venue = 'binance-usdm' AND symbol = 'BTCUSDT' AND source = 'bbo'
            QUALIFY row_number() OVER (PARTITION BY ts_ns ORDER BY seq DESC) = 1)
SELECT up.ts, up.krw, bn.mid AS usdt, fx.usdt_krw,
       up.krw / (bn.mid * fx.usdt_krw) - 1 AS premium
FROM up
ASOF JOIN bn ON up.ts_ns >= bn.ts_ns
ASOF JOIN fx ON up.ts_ns >= fx.ts_ns
ORDER BY up.ts_ns;

-- name: book_at
-- The book of every symbol as of an instant: its last book_levels sample at or before
-- it (samples are taken each second a book changed). Set the instant first:
SET VARIABLE instant = TIMESTAMP '2025-01-02 00:01:00';
WITH last AS (SELECT venue, symbol, max(ts_ns) AS at_ns FROM book_levels
              WHERE ts <= getvariable('instant') GROUP BY ALL)
SELECT b.venue, b.symbol, b.ts, b.valid, b.side, b.level, b.price, b.size
FROM book_levels b JOIN last ON b.venue = last.venue AND b.symbol = last.symbol
                            AND b.ts_ns = last.at_ns
ORDER BY b.venue, b.symbol, b.side, b.level;

-- name: gaps_per_day
-- Book continuity breaks per venue per UTC day.
SELECT date, venue, count(*) AS gaps, count(DISTINCT symbol) AS symbols,
       list(DISTINCT reason ORDER BY reason) AS reasons
FROM gaps
GROUP BY ALL
ORDER BY date, venue;

-- name: records_per_day
-- What the journal captured, per day and kind (raw is every record, byte-exact).
SELECT date, kind, count(*) AS records, sum(octet_length(payload)) AS bytes
FROM raw
GROUP BY ALL
ORDER BY date, kind;

-- name: spread_by_minute
-- Average quoted spread in basis points from the 1 s features.
SELECT venue, symbol, time_bucket(INTERVAL 1 minute, ts) AS minute,
       avg(spread / mid) * 1e4 AS spread_bps, avg(imbalance) AS imbalance
FROM features
WHERE mid IS NOT NULL
GROUP BY ALL
ORDER BY venue, symbol, minute;
