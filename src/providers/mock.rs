//! The offline `mock` provider: deterministic in prompt and sample index.

use futures::future::BoxFuture;

use super::{Provider, ProviderError, Reply, Request};
use crate::model::MockOptions;

pub struct MockProvider {
    _options: MockOptions,
}

impl MockProvider {
    pub fn new(options: MockOptions) -> MockProvider {
        MockProvider { _options: options }
    }
}

impl Provider for MockProvider {
    fn call(&self, _request: Request) -> BoxFuture<'_, Result<Reply, ProviderError>> {
        todo!("vote helper")
    }
}
