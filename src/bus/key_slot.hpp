// Redis Cluster key slots: CRC16/XMODEM of the key (or of its {hash tag}) modulo 16384. Sharded
// pub/sub routes a channel name exactly like a key, so the bus uses this to pick the shard for
// SPUBLISH and SSUBSCRIBE. Pure functions; no I/O.
#pragma once

#include <cstdint>
#include <string_view>

namespace herald::bus {

inline constexpr std::uint16_t kClusterSlotCount = 16384;

// CRC16 as Redis computes it (XMODEM: poly 0x1021, init 0, no reflection). crc16("123456789") ==
// 0x31C3.
std::uint16_t crc16(std::string_view bytes) noexcept;

// The cluster slot of `key`: if the key has a non-empty {tag} (first '{', then the first '}' after
// it), only the tag is hashed, so "herald:{a}:x" and "herald:{a}:y" share a slot. key_slot("foo")
// == 12182.
std::uint16_t key_slot(std::string_view key) noexcept;

}  // namespace herald::bus
