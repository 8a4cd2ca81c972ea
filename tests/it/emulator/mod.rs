//! The local server as an emulator of TileDB Cloud (issue 15): wire fidelity with the official
//! client and the service (`wire`), users of the binary (`users`).

mod admin;
mod faults;
mod seed;
mod timing;
mod users;
mod wire;
