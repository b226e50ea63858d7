// CRC-32C (Castagnoli), the checksum of the TFRecord framing of TensorBoard's event files; zlib
// only has the other CRC-32 (IEEE), so it is computed here, a byte at a time from a table.

private let crc32cTable: [UInt32] = (0..<256).map { byte in
    var crc = UInt32(byte)
    for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    return crc
}

/// CRC-32C of `bytes` (crc32c("123456789") = 0xE3069283).
public func crc32c(_ bytes: some Sequence<UInt8>) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes { crc = crc32cTable[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    return crc ^ 0xFFFF_FFFF
}
