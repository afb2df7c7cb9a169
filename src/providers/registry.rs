//! Turning declared models into providers, once per run, before any call: a
//! missing key is reported up front instead of after half the graph has run.

use std::collections::HashMap;
use std::sync::Arc;

use super::anthropic::AnthropicProvider;
use super::http::{self, HttpClient};
use super::mock::MockProvider;
use super::openai::OpenAiProvider;
use super::{Provider, ProviderError};
use crate::model::{ModelSpec, ProviderKind};

/// One provider per model name. The HTTP client is made only if some model
/// needs it, so offline runs never touch TLS or the network stack.
pub fn build_all<'a>(
    specs: impl IntoIterator<Item = &'a ModelSpec>,
) -> Result<HashMap<String, Arc<dyn Provider>>, (String, ProviderError)> {
    let mut client: Option<HttpClient> = None;
    let mut out: HashMap<String, Arc<dyn Provider>> = HashMap::new();
    for spec in specs {
        // A `fallback` or `round_robin` model calls its members' providers.
        if spec.options.route.is_some() {
            continue;
        }
        let provider: Arc<dyn Provider> = match spec.provider {
            ProviderKind::Mock => Arc::new(MockProvider::new(spec.options.mock.clone())),
            ProviderKind::OpenAi | ProviderKind::Anthropic => {
                let c = match &client {
                    Some(c) => c.clone(),
                    None => {
                        let c = http::client().map_err(|e| (spec.name.clone(), e))?;
                        client = Some(c.clone());
                        c
                    }
                };
                if spec.provider == ProviderKind::OpenAi {
                    Arc::new(OpenAiProvider::new(spec, c).map_err(|e| (spec.name.clone(), e))?)
                } else {
                    Arc::new(AnthropicProvider::new(spec, c).map_err(|e| (spec.name.clone(), e))?)
                }
            }
        };
        out.insert(spec.name.clone(), provider);
    }
    Ok(out)
}
