//! What Gatehouse decides from what is stored: the [`gate`] (is everything green?), a
//! commit's [`checks`] (is this commit ready to ship?), which
//! events become desktop notifications ([`notify`]), and what the settings say to forget
//! ([`retention`]). Used by the CLI, `serve` and the desktop shell alike.

pub mod checks;
pub mod gate;
pub mod notify;
pub mod retention;
