// TFRecord framing, the container of TensorBoard's event files. Each record is its payload's
// length (uint64), the masked CRC-32C of those 8 bytes, the payload, and the payload's masked
// CRC-32C, all little-endian. The file is created anew (never overwrites one) and every record
// goes straight to the file, so a running TensorBoard sees it at once and a crash loses nothing.
import Foundation

public final class TFRecordWriter {
    private let handle: FileHandle

    public init(path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ConfigError("cannot create the event file \(path): \(String(cString: strerror(errno)))")
        }
        handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }

    public func write(_ payload: [UInt8]) {
        let length = littleEndianBytes(UInt64(payload.count))
        let record = length + littleEndianBytes(maskedCRC32C(length)) + payload + littleEndianBytes(maskedCRC32C(payload))
        handle.write(Data(record))
    }
}

/// TFRecord's masking of a CRC (rotated right by 15, plus a constant), so that a CRC of data that
/// itself holds CRCs stays well distributed.
func maskedCRC32C(_ bytes: [UInt8]) -> UInt32 {
    let crc = crc32c(bytes)
    return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
}
