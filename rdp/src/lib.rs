//! The RDP client behind Postern's browser desktop.
