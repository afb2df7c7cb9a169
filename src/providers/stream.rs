//! Streaming HTTP providers: placeholder, filled below.
