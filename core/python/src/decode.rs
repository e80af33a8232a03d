//! The core's frame decoders seen from Python, for the differential tests that hold them
//! to `state.decode` event for event before the fold switches to them.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use ticktape::decode::Decoder;
use ticktape::event::{Event, Level};

fn levels<'py>(py: Python<'py>, lv: &[Level<'_>]) -> PyResult<Bound<'py, PyTuple>> {
    let mut items: Vec<Bound<'py, PyTuple>> = Vec::with_capacity(lv.len());
    for l in lv {
        items.push(match &l.seq {
            None => PyTuple::new(py, [l.price.as_ref(), l.size.as_ref()])?,
            Some(q) => PyTuple::new(py, [l.price.as_ref(), l.size.as_ref(), q.as_ref()])?,
        });
    }
    PyTuple::new(py, items)
}

/// An event as a tuple: its `state.events` type name, then its fields in that module's
/// order from `exch_ts_ns` on (receive time and seq are the record's), the symbol second.
fn event_tuple<'py>(py: Python<'py>, ev: &Event<'_>) -> PyResult<Bound<'py, PyAny>> {
    Ok(match ev {
        Event::Trade(t) => (
            "Trade",
            t.symbol.as_ref(),
            t.exch_ts_ns,
            t.price.as_ref(),
            t.size.as_ref(),
            t.side.as_str(),
            t.trade_id.as_str(),
            t.ordinal,
        )
            .into_pyobject(py)?
            .into_any(),
        Event::BookTicker(t) => (
            "BookTicker",
            t.symbol.as_ref(),
            t.exch_ts_ns,
            t.bid_px.as_ref(),
            t.bid_sz.as_ref(),
            t.ask_px.as_ref(),
            t.ask_sz.as_ref(),
            t.update_id,
        )
            .into_pyobject(py)?
            .into_any(),
        Event::BookDelta(d) => (
            "BookDelta",
            d.symbol.as_ref(),
            d.exch_ts_ns,
            levels(py, &d.bids)?,
            levels(py, &d.asks)?,
            d.first_id,
            d.last_id,
            d.prev_id,
            d.checksum,
        )
            .into_pyobject(py)?
            .into_any(),
        Event::BookSnapshot(s) => (
            "BookSnapshot",
            s.symbol.as_ref(),
            s.exch_ts_ns,
            levels(py, &s.bids)?,
            levels(py, &s.asks)?,
            s.update_id,
            s.depth,
            s.checksum,
            s.totals.as_ref().map(|(b, a)| (b.as_ref(), a.as_ref())),
            s.source.as_str(),
        )
            .into_pyobject(py)?
            .into_any(),
        Event::Ticker(t) => {
            // Fourteen fields: past the arity a Rust tuple converts, so a tuple built here.
            let fields = PyTuple::new(
                py,
                [
                    &t.last,
                    &t.bid,
                    &t.ask,
                    &t.open,
                    &t.high,
                    &t.low,
                    &t.volume,
                    &t.quote_volume,
                    &t.mark,
                    &t.index,
                    &t.funding_rate,
                    &t.prev_close,
                    &t.change,
                    &t.change_rate,
                ]
                .map(|v| v.as_deref()),
            )?;
            ("Ticker", t.symbol.as_ref(), t.exch_ts_ns, fields)
                .into_pyobject(py)?
                .into_any()
        }
        Event::Kline(k) => (
            "Kline",
            k.symbol.as_ref(),
            k.exch_ts_ns,
            k.interval.as_ref(),
            k.start_ns,
            (
                k.open.as_ref(),
                k.high.as_ref(),
                k.low.as_ref(),
                k.close.as_ref(),
                k.volume.as_ref(),
            ),
            k.quote_volume.as_deref(),
            k.closed,
        )
            .into_pyobject(py)?
            .into_any(),
    })
}

/// Decode the frames of one stream (of `venue`, `market`, connected to `url`): per frame,
/// its events as tuples (see `event_tuple`), or the decode error's reason as a string.
/// `ValueError` for a venue the core has no decoder for.
#[pyfunction]
fn decode_frames<'py>(
    py: Python<'py>,
    venue: &str,
    market: &str,
    url: &str,
    payloads: Vec<Vec<u8>>,
) -> PyResult<Bound<'py, PyList>> {
    let dec = Decoder::for_stream(venue, market, url)
        .ok_or_else(|| PyValueError::new_err(format!("no compiled decoder for venue {venue:?}")))?;
    let out = PyList::empty(py);
    for p in &payloads {
        match dec.frame(p) {
            Ok(events) => {
                let evs = PyList::empty(py);
                for ev in &events {
                    evs.append(event_tuple(py, ev)?)?;
                }
                out.append(evs)?;
            }
            Err(e) => out.append(e.to_string())?,
        }
    }
    Ok(out)
}

/// Decode the frames of one stream `passes` times over, keeping nothing: (events, errors)
/// of one pass. What `tools/bench/projection.py --by-kind` times to show the compiled
/// decoder's own cost per frame (no Python object is made per frame).
#[pyfunction]
fn decode_count(
    venue: &str,
    market: &str,
    url: &str,
    payloads: Vec<Bound<'_, PyBytes>>,
    passes: usize,
) -> PyResult<(usize, usize)> {
    let dec = Decoder::for_stream(venue, market, url)
        .ok_or_else(|| PyValueError::new_err(format!("no compiled decoder for venue {venue:?}")))?;
    let frames: Vec<&[u8]> = payloads.iter().map(|p| p.as_bytes()).collect();
    let (mut events, mut errors) = (0, 0);
    for _ in 0..passes {
        (events, errors) = (0, 0);
        for f in &frames {
            match dec.frame(f) {
                Ok(evs) => events += evs.len(),
                Err(_) => errors += 1,
            }
        }
    }
    Ok((events, errors))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(decode_frames, m)?)?;
    m.add_function(wrap_pyfunction!(decode_count, m)?)
}
