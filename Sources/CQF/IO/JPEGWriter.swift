// Writes baseline JPEG files through libjpeg (test fixtures, previews).
import CImageCodecs

/// Writes `pixels`, height x width x channels bytes (HWC; 1 gray or 3 RGB), to `path` as a JPEG
/// of the given quality (1...100). Throws a sentence naming the file when libjpeg cannot.
public func writeJPEG(path: String, pixels: UnsafePointer<UInt8>, width: Int, height: Int, channels: Int,
                      quality: Int = 95) throws {
    precondition([1, 3].contains(channels), "writeJPEG: expected 1 or 3 channels, got \(channels).")
    var message = [CChar](repeating: 0, count: Int(CQF_CODEC_MESSAGE_LENGTH))
    guard cqf_jpeg_write_file(path, pixels, Int32(width), Int32(height), Int32(channels), Int32(quality), &message) == 0 else {
        throw DataError(file: path, "cannot be written as a JPEG (libjpeg: \(String(cString: message)))")
    }
}
