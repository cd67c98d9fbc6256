//! `GET /__admin/catalogue`: the route and fault tables as JSON, so the
//! page builds its buttons from them (a new fault appears without touching
//! the page).

use serde_json::{json, Value};

use crate::chaos::engine::MAX_FORCED;
use crate::chaos::{Fault, Route, FAULTS, MAX_COPIES};

/// The parameters a fault takes, with their defaults and bounds.
fn params(fault: &Fault) -> Value {
    match fault {
        Fault::Timeout { after } => {
            json!([{"name": "after_ms", "default": after.as_millis() as u64, "min": 0}])
        }
        Fault::DuplicateEvent { copies } => {
            json!([{"name": "copies", "default": copies, "min": 1, "max": MAX_COPIES}])
        }
        _ => json!([]),
    }
}

/// The catalogue, as `GET /__admin/catalogue` answers it.
pub(crate) fn catalogue() -> Value {
    let routes: Vec<Value> = Route::ALL
        .iter()
        .map(|&route| {
            let spec = route.spec();
            let path = match route.is_json() {
                true => spec.path.to_string(),
                false => format!("{}?stream=messages", spec.path),
            };
            let faults: Vec<&str> = FAULTS
                .iter()
                .filter(|f| f.sample.applies_to(route))
                .map(|f| f.name)
                .collect();
            let method = spec.method.unwrap_or("GET");
            json!({"name": route, "method": method, "path": path, "faults": faults})
        })
        .collect();
    let faults: Vec<Value> = FAULTS
        .iter()
        .map(|spec| {
            let f = &spec.sample;
            json!({
                "name": spec.name,
                "words": f.describe(),
                "default": f,
                "params": params(f),
                "any_route": matches!(f, Fault::DuplicateEvent { .. }),
            })
        })
        .collect();
    json!({
        "version": crate::feed::VERSION,
        "routes": routes,
        "faults": faults,
        "presets": ["none", "reference", "hostile"],
        "authors": ["bot", "user"],
        "max_forced": MAX_FORCED,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_lists_the_faults_that_apply_to_it() {
        let c = catalogue();
        let routes = c["routes"].as_array().unwrap();
        assert_eq!(routes.len(), Route::ALL.len());
        assert_eq!(routes[3]["name"], "events");
        assert_eq!(
            routes[3]["faults"],
            json!(["stream_disconnect", "stream_end"])
        );
        assert_eq!(routes[0]["faults"].as_array().unwrap().len(), 5);
        let timeout = &c["faults"][1];
        assert_eq!(
            timeout["default"],
            json!({"kind": "timeout", "after_ms": 5000})
        );
    }
}
