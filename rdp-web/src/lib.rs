//! The RDP module of the browser desktop page.
