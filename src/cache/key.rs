//! The cache key: a SHA-256 of everything that can change a call's reply.
//!
//! In: provider, model id, `temperature`, `max_tokens`, `top_p`, `base_url`,
//! the mock's reply options (and, for mocks, the declared name, which
//! placeholders quote), the system prompt, the conversation given with
//! `with` (when there is one), the rendered prompt (with any format
//! instruction appended), the `as` type, what the request carries on the
//! wire for it (a schema, JSON mode) and the sample index (so the samples of
//! a vote stay distinct).
//! Out: limits, timeouts, retries, prices and the key's variable name, which
//! change how a call is made but not what it answers. Changing anything that
//! is in makes a different key, so a stale reply is never served; the old
//! entry just stops being used.

use ring::digest::{Context, SHA256};

use crate::model::{ModelSpec, ProviderKind};
use crate::providers::Wire;
use crate::types::Type;

/// Bumped when the key's recipe changes, so old entries are never misread.
const RECIPE: &str = "flow call cache v2";

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallKey(pub [u8; 32]);

impl std::fmt::Debug for CallKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallKey({})", self.hex())
    }
}

/// What one call asks, as the runtime renders it.
#[derive(Debug, Clone, Copy)]
pub struct CallSpec<'a> {
    pub model: &'a ModelSpec,
    pub system: Option<&'a str>,
    /// The conversation before the prompt; empty adds nothing to the key,
    /// so calls without one keep the keys they had before conversations.
    pub history: &'a [crate::chat::Message],
    pub prompt: &'a str,
    pub expect: &'a Type,
    /// What the request carries for the `as` type.
    pub wire: &'a Wire,
    pub sample: u32,
}

impl CallKey {
    pub fn new(call: CallSpec<'_>) -> CallKey {
        let spec = call.model;
        let o = &spec.options;
        let mut h = Fields(Context::new(&SHA256));
        h.text(Some(RECIPE));
        h.text(Some(spec.provider.name()));
        h.text(spec.model_id.as_deref());
        h.float(o.temperature);
        h.int(o.max_tokens.map(u64::from));
        h.float(o.top_p);
        h.text(o.base_url.as_deref());
        if spec.provider == ProviderKind::Mock {
            let m = &o.mock;
            h.text(Some(&spec.name));
            h.text(m.reply.as_deref());
            match &m.replies {
                Some(replies) => {
                    h.int(Some(replies.len() as u64));
                    replies.iter().for_each(|r| h.text(Some(r)));
                }
                None => h.int(None),
            }
            match &m.rules {
                Some(rules) => {
                    h.int(Some(rules.len() as u64));
                    for (k, v) in rules {
                        h.text(Some(k));
                        h.text(Some(v));
                    }
                }
                None => h.int(None),
            }
            h.int(Some(u64::from(m.echo)));
            h.int(Some(u64::from(m.placeholder)));
        }
        h.text(call.system);
        if !call.history.is_empty() {
            h.text(Some("history"));
            h.int(Some(call.history.len() as u64));
            for m in call.history {
                h.text(Some(m.role.as_str()));
                h.text(Some(&m.content));
            }
        }
        h.text(Some(call.prompt));
        h.text(Some(&call.expect.to_string()));
        match call.wire {
            Wire::Plain => h.int(None),
            Wire::Schema {
                schema,
                strict,
                wrapped,
            } => {
                h.int(Some(1));
                h.text(Some(&schema.to_string()));
                h.int(Some(u64::from(*strict)));
                h.int(Some(u64::from(*wrapped)));
            }
            Wire::JsonObject { wrapped } => {
                h.int(Some(2));
                h.int(Some(u64::from(*wrapped)));
            }
        }
        h.int(Some(u64::from(call.sample)));
        let digest = h.0.finish();
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        CallKey(key)
    }

    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The key [`CallKey::hex`] wrote: a batch's custom id read back.
    pub fn from_hex(text: &str) -> Option<CallKey> {
        if text.len() != 64 || !text.is_ascii() {
            return None;
        }
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(CallKey(key))
    }
}

/// Every field is tagged and length-prefixed, so `("ab", "c")` and
/// `("a", "bc")` hash differently, and so do `None` and `Some("")`.
struct Fields(Context);

impl Fields {
    fn text(&mut self, s: Option<&str>) {
        match s {
            None => self.0.update(&[0u8]),
            Some(s) => {
                self.0.update(&[1u8]);
                self.0.update(&(s.len() as u64).to_le_bytes());
                self.0.update(s.as_bytes());
            }
        }
    }

    fn int(&mut self, n: Option<u64>) {
        match n {
            None => self.0.update(&[0u8]),
            Some(n) => {
                self.0.update(&[2u8]);
                self.0.update(&n.to_le_bytes());
            }
        }
    }

    fn float(&mut self, x: Option<f64>) {
        self.int(x.map(f64::to_bits));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelOptions, ProviderKind};
    use crate::syntax::Span;

    fn spec(provider: ProviderKind, id: Option<&str>, options: ModelOptions) -> ModelSpec {
        ModelSpec {
            name: "m".into(),
            provider,
            model_id: id.map(str::to_string),
            options,
            span: Span::default(),
        }
    }

    fn key(
        model: &ModelSpec,
        system: Option<&str>,
        prompt: &str,
        ty: &Type,
        sample: u32,
    ) -> CallKey {
        CallKey::new(CallSpec {
            model,
            system,
            history: &[],
            prompt,
            expect: ty,
            wire: &Wire::Plain,
            sample,
        })
    }

    #[test]
    fn every_reply_shaping_field_changes_the_key() {
        let base = spec(
            ProviderKind::OpenAi,
            Some("gpt-4o-mini"),
            ModelOptions::default(),
        );
        let k = key(&base, None, "hi", &Type::Text, 0);
        assert_eq!(
            k,
            key(&base, None, "hi", &Type::Text, 0),
            "not deterministic"
        );
        assert_ne!(k, key(&base, Some(""), "hi", &Type::Text, 0), "system");
        assert_ne!(k, key(&base, None, "hi!", &Type::Text, 0), "prompt");
        assert_ne!(k, key(&base, None, "hi", &Type::Bool, 0), "type");
        assert_ne!(k, key(&base, None, "hi", &Type::Text, 1), "sample");
        let other_id = spec(
            ProviderKind::OpenAi,
            Some("gpt-4o"),
            ModelOptions::default(),
        );
        assert_ne!(k, key(&other_id, None, "hi", &Type::Text, 0), "model id");
        let other_provider = spec(
            ProviderKind::Anthropic,
            Some("gpt-4o-mini"),
            ModelOptions::default(),
        );
        assert_ne!(
            k,
            key(&other_provider, None, "hi", &Type::Text, 0),
            "provider"
        );
        let warm = spec(
            ProviderKind::OpenAi,
            Some("gpt-4o-mini"),
            ModelOptions {
                temperature: Some(0.7),
                ..ModelOptions::default()
            },
        );
        assert_ne!(k, key(&warm, None, "hi", &Type::Text, 0), "temperature");
    }

    #[test]
    fn what_the_wire_carries_changes_the_key() {
        let m = spec(
            ProviderKind::OpenAi,
            Some("gpt-4o"),
            ModelOptions::default(),
        );
        let ty = Type::list(Type::Int);
        let k = |wire: &Wire| {
            CallKey::new(CallSpec {
                model: &m,
                system: None,
                history: &[],
                prompt: "hi",
                expect: &ty,
                wire,
                sample: 0,
            })
        };
        let schema = |strict| Wire::Schema {
            schema: Box::new(serde_json::json!({"type": "object"})),
            strict,
            wrapped: true,
        };
        let keys = [
            k(&Wire::Plain),
            k(&schema(true)),
            k(&schema(false)),
            k(&Wire::JsonObject { wrapped: true }),
            k(&Wire::JsonObject { wrapped: false }),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn limits_prices_and_retries_do_not_change_the_key() {
        let base = spec(
            ProviderKind::OpenAi,
            Some("gpt-4o-mini"),
            ModelOptions::default(),
        );
        let tuned = spec(
            ProviderKind::OpenAi,
            Some("gpt-4o-mini"),
            ModelOptions {
                concurrency: Some(4),
                rpm: Some(60),
                retry: Some(5),
                price_in: Some(0.15),
                price_out: Some(0.6),
                api_key_env: Some("MY_KEY".into()),
                ..ModelOptions::default()
            },
        );
        assert_eq!(
            key(&base, None, "hi", &Type::Text, 0),
            key(&tuned, None, "hi", &Type::Text, 0)
        );
    }

    #[test]
    fn offline_placeholders_never_share_a_key_with_the_real_model() {
        let real = spec(
            ProviderKind::OpenAi,
            Some("gpt-4o-mini"),
            ModelOptions::default(),
        );
        let offline = real.offline_stand_in();
        let mut plain_mock = offline.clone();
        plain_mock.options.mock.placeholder = false;
        let k = |m: &ModelSpec| key(m, None, "hi", &Type::Text, 0);
        assert_ne!(k(&real), k(&offline));
        assert_ne!(k(&offline), k(&plain_mock));
    }

    #[test]
    fn fields_are_delimited() {
        let m = spec(ProviderKind::Mock, None, ModelOptions::default());
        assert_ne!(
            key(&m, Some("ab"), "c", &Type::Text, 0),
            key(&m, Some("a"), "bc", &Type::Text, 0)
        );
        assert_eq!(key(&m, None, "x", &Type::Text, 0).hex().len(), 64);
    }

    #[test]
    fn a_conversation_changes_the_key_and_none_keeps_the_old_one() {
        use crate::chat::{Message, Role};
        let base = spec(
            ProviderKind::OpenAi,
            Some("gpt-4o-mini"),
            ModelOptions::default(),
        );
        let plain = key(&base, None, "hi", &Type::Text, 0);
        let with = |history: &[Message]| {
            CallKey::new(CallSpec {
                model: &base,
                system: None,
                history,
                prompt: "hi",
                expect: &Type::Text,
                wire: &Wire::Plain,
                sample: 0,
            })
        };
        assert_eq!(with(&[]), plain);
        let one = [Message::new(Role::User, "earlier")];
        let other = [Message::new(Role::Assistant, "earlier")];
        assert_ne!(with(&one), plain);
        assert_ne!(with(&one), with(&other));
    }
}
