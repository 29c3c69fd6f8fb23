//! unsock's 452-byte control files: codec (owned by the control-file work, issue 4).
