//! The tablesync wire protocol (the Azure Mobile Apps table protocol, version 2.0) and its HTTP transport.
