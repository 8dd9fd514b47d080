//! chatwatch's engine: the hot, pure core, fed whole batches.
//!
//! Python stays the face of the project (drivers, web, metrics, alerts); this crate holds the
//! per-event work. Today that is the event contract: [`event::decode`] reads one raw message
//! into a valid event or the reason it is not one, and the Python bindings ([`Decoder`]) hand
//! a whole batch of raw values in one call and get the events (or reasons) back.

pub mod event;
pub mod rfc3339;

#[cfg(feature = "python")]
mod python {
    use crate::event::{self, Amount, Event, Limits};
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyList, PyString, PyTuple};

    /// Decodes raw messages into the project's event objects.
    ///
    /// Built once with the Python types it makes (`ChatEvent`, `Invalid`), the orders' rule
    /// for an order's `status` and `amount` (called for order events only: it returns the
    /// amount in fen, None, or the reason as a string) and the contract's limits.
    #[pyclass(frozen, module = "chatwatch_engine")]
    struct Decoder {
        event_type: Py<PyAny>,
        invalid_type: Py<PyAny>,
        order_fields: Py<PyAny>,
        limits: Limits,
    }

    impl Decoder {
        /// The event object, or (an order the orders' rule refuses) the reason.
        fn make<'py>(
            &self,
            py: Python<'py>,
            event: &Event,
            platform: &Bound<'py, PyString>,
        ) -> PyResult<Result<Bound<'py, PyAny>, String>> {
            let text = |s: &str| PyString::new(py, s).into_any();
            let opt = |s: &Option<std::borrow::Cow<str>>| match s {
                Some(s) => text(s),
                None => py.None().into_bound(py),
            };
            let mut amount_fen = py.None().into_bound(py);
            if event.kind == "order" {
                let (kind, value): (u8, &str) = match &event.amount {
                    Amount::Absent => (0, ""),
                    Amount::Text(s) => (1, s),
                    Amount::Number(s) => (2, s),
                    Amount::Other => (3, ""),
                };
                let checked = self.order_fields.bind(py).call1((
                    opt(&event.order_id),
                    opt(&event.status),
                    kind,
                    value,
                ))?;
                if let Ok(reason) = checked.cast::<PyString>() {
                    return Ok(Err(reason.to_str()?.to_owned()));
                }
                amount_fen = checked;
            }
            let conversation = match &event.conversation_id {
                Some(id) => text(id),
                None => text(&format!("{}:{}", event.shop_id, event.buyer_id)),
            };
            let platform = match &event.platform {
                Some(p) => text(p),
                None => platform.clone().into_any(),
            };
            let args = PyTuple::new(
                py,
                [
                    text(&event.event_id),
                    event.ts_ms.into_pyobject(py)?.into_any(),
                    text(&event.shop_id),
                    text(&event.buyer_id),
                    conversation,
                    platform,
                    text(event.kind),
                    event.sender.map_or_else(|| py.None().into_bound(py), text),
                    opt(&event.agent_id),
                    opt(&event.text),
                    text(event.buyer_kind),
                    opt(&event.order_id),
                    opt(&event.status),
                    amount_fen,
                ],
            )?;
            Ok(Ok(self.event_type.bind(py).call1(args)?))
        }
    }

    #[pymethods]
    impl Decoder {
        #[new]
        fn new(
            event_type: Py<PyAny>,
            invalid_type: Py<PyAny>,
            order_fields: Py<PyAny>,
            max_id_chars: usize,
            latest_ms: i64,
        ) -> Self {
            Decoder {
                event_type,
                invalid_type,
                order_fields,
                limits: Limits {
                    max_id_chars,
                    latest_ms,
                },
            }
        }

        /// One raw message (bytes) -> the event, or `Invalid(reason, raw)`.
        fn decode<'py>(
            &self,
            py: Python<'py>,
            raw: &Bound<'py, PyBytes>,
            default_platform: &Bound<'py, PyString>,
        ) -> PyResult<Bound<'py, PyAny>> {
            match event::decode(raw.as_bytes(), self.limits) {
                Ok(event) => match self.make(py, &event, default_platform)? {
                    Ok(made) => Ok(made),
                    Err(reason) => self.invalid_type.bind(py).call1((reason, raw)),
                },
                Err(reason) => self.invalid_type.bind(py).call1((reason, raw)),
            }
        }

        /// A batch of raw messages -> a list of events or `Invalid`s, in order.
        fn decode_many<'py>(
            &self,
            py: Python<'py>,
            raws: &Bound<'py, PyList>,
            default_platform: &Bound<'py, PyString>,
        ) -> PyResult<Bound<'py, PyList>> {
            let out = PyList::empty(py);
            for raw in raws.iter() {
                out.append(self.decode(py, raw.cast::<PyBytes>()?, default_platform)?)?;
            }
            Ok(out)
        }
    }

    #[pymodule]
    fn chatwatch_engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<Decoder>()?;
        Ok(())
    }
}
