// Writes 8-bit PNG files through libpng (sample grids, test fixtures).
import CImageCodecs

/// Writes `pixels`, height x width x channels bytes (HWC; 1 gray, 3 RGB or 4 RGBA), to `path`
/// as a PNG. Throws a sentence naming the file when libpng cannot write it.
public func writePNG(path: String, pixels: UnsafePointer<UInt8>, width: Int, height: Int, channels: Int) throws {
    precondition([1, 3, 4].contains(channels), "writePNG: expected 1, 3 or 4 channels, got \(channels).")
    var message = [CChar](repeating: 0, count: Int(CQF_CODEC_MESSAGE_LENGTH))
    guard cqf_png_write_file(path, pixels, Int32(width), Int32(height), Int32(channels), &message) == 0 else {
        throw DataError(file: path, "cannot be written as a PNG (libpng: \(String(cString: message)))")
    }
}

/// `writePNG` for pixels held in an array.
public func writePNG(path: String, pixels: [UInt8], width: Int, height: Int, channels: Int) throws {
    precondition(pixels.count == width * height * channels,
                 "writePNG: expected \(width)x\(height)x\(channels) = \(width * height * channels) bytes, got \(pixels.count).")
    try pixels.withUnsafeBufferPointer {
        try writePNG(path: path, pixels: $0.baseAddress!, width: width, height: height, channels: channels)
    }
}
