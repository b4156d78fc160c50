//! Control plane: configuration files (being written).
