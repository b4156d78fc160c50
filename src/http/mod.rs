//! HTTP/1.1 codec on httparse (being written).
