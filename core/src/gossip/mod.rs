//! SWIM membership with the Lifeguard refinements.
