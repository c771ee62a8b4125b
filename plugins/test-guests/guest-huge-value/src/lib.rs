//! Sends a 64 MiB response body and a 20 MiB field value across the boundary.
//!
//! - `GET /run`: answers 200 with a body of 64 MiB of `x`.
//! - `GET /huge-arg`: lists one contact and updates its `tags` to `["xxx…"]`, one string of
//!   20 MiB; answers `{"errors": [debug text], "succeeded": [calls that returned Ok]}`.
//!
//! Under a 16 MiB memory limit the guest cannot even build these values: the allocation fails and
//! traps. With more memory, the host must refuse the sizes at the boundary.

use capcrm_plugin_sdk::serde_json::json;
use capcrm_plugin_sdk::{Collection, Fields, Plugin, Request, Response, Result, capcrm_plugin};

const BODY_BYTES: usize = 64 << 20;
const ARG_BYTES: usize = 20 << 20;

struct HugeValue;

impl Plugin for HugeValue {
    fn on_http(request: Request) -> Result<Response> {
        if request.is("GET", "/run") {
            return Ok(Response::new(200).with_body(vec![b'x'; BODY_BYTES]));
        }
        if !request.is("GET", "/huge-arg") {
            return Ok(Response::not_found());
        }
        let contacts = Collection::open("contact")?;
        let id = contacts
            .first(1)?
            .into_iter()
            .next()
            .map(|r| r.id)
            .unwrap_or_default();
        // Built as JSON text directly, so the guest holds one copy of the 20 MiB, not two.
        let mut tags = String::with_capacity(ARG_BYTES + 4);
        tags.push_str("[\"");
        tags.extend(std::iter::repeat_n('x', ARG_BYTES));
        tags.push_str("\"]");
        let (errors, succeeded) = match contacts.update(&id, Fields::new().set_raw("tags", tags)) {
            Ok(_) => (vec![], vec!["update tags"]),
            Err(e) => (vec![format!("{e:?}")], vec![]),
        };
        Ok(Response::json(
            200,
            &json!({ "errors": errors, "succeeded": succeeded }),
        ))
    }
}

capcrm_plugin!(HugeValue);
