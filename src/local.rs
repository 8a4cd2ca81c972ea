//! Joins the SDK and the local server (feature `server`): a [`Client`] for a [`LocalServer`].
//!
//! The server never imports the client side and the client never imports the server; this module
//! is the one place that knows both.

use crate::client::{Client, ClientBuilder};
use crate::error::Result;
use crate::server::LocalServer;

#[cfg_attr(docsrs, doc(cfg(feature = "server")))]
impl LocalServer {
    /// A client builder pointed at this server with its default user's key; refine it (policies,
    /// clock) before building.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .host(self.base_url())
            .api_key(self.api_key())
    }

    /// A client for this server, with default settings.
    pub fn client(&self) -> Result<Client> {
        self.client_builder().build()
    }
}
