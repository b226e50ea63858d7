// Compressed images (JPEG, PNG, WebP, told apart by their first bytes) decoded into a reusable
// buffer, then center-cropped and resized: what folder and LSUN sources do to every image.
//
// A JPEG much larger than the wanted size is decoded at 1/2, 1/4 or 1/8 scale inside libjpeg's
// inverse DCT (only while the scaled crop still covers the output size, so the antialiasing
// filter keeps doing the reduction): LSUN's 256-pixel bedrooms come out at 64 directly, several
// times faster than a full decode.
import CImageCodecs

/// Decodes one image at a time into RGB and crops/resizes it to `size` x `size`, CHW.
public final class ImageDecoder {
    /// Images of more pixels are refused before anything is allocated for them: a header can
    /// claim any size (the paper's datasets hold images of at most a few megapixels).
    static let pixelLimit = 1 << 26

    public let size: Int
    /// The side of the square center crop in the image's own pixels; nil: its shorter side.
    public let crop: Int?
    private let resizer: CenterCropResizer
    private var pixels: UnsafeMutablePointer<UInt8>
    private var capacity = 0

    public init(size: Int, crop: Int?) {
        self.size = size
        self.crop = crop
        resizer = CenterCropResizer(outputSize: size)
        pixels = .allocate(capacity: 1)
    }

    deinit { pixels.deallocate() }

    /// Decodes `bytes` and writes the 3 x size x size CHW result to `output`. Throws a
    /// sentence (without the file name, which the caller adds) when the bytes are not a
    /// decodable image or the image is smaller than the crop.
    public func decode(_ bytes: UnsafeRawBufferPointer, into output: UnsafeMutablePointer<UInt8>) throws {
        let data = bytes.bindMemory(to: UInt8.self)
        guard let base = data.baseAddress, data.count >= 12 else {
            throw DataError("is \(data.count) bytes, too short to be an image")
        }
        var width: Int32 = 0, height: Int32 = 0
        var scale = 1
        if base[0] == 0xFF && base[1] == 0xD8 {
            var message = [CChar](repeating: 0, count: Int(CQF_CODEC_MESSAGE_LENGTH))
            guard cqf_jpeg_size(base, UInt(data.count), &width, &height, &message) == 0 else {
                throw DataError("is not a decodable JPEG (libjpeg: \(String(cString: message)))")
            }
            try checkPixelCount(width, height)
            let side = try cropSide(Int(width), Int(height))
            while scale < 8 && side / (scale * 2) >= size { scale *= 2 }
            try withCapacity((Int(width) / scale + 1) * (Int(height) / scale + 1) * 3) {
                cqf_jpeg_decode(base, UInt(data.count), Int32(scale), 3, pixels, capacity, &width, &height, &message)
            } failure: { "is not a decodable JPEG (libjpeg: \(String(cString: message)))" }
        } else if base[0] == 0x89 && base[1] == 0x50 && base[2] == 0x4E && base[3] == 0x47 {
            var message = [CChar](repeating: 0, count: Int(CQF_CODEC_MESSAGE_LENGTH))
            var status = cqf_png_decode(base, UInt(data.count), 3, pixels, capacity, &width, &height, &message)
            if status == -2 {
                try checkPixelCount(width, height)
                reserve(Int(width) * Int(height) * 3)
                status = cqf_png_decode(base, UInt(data.count), 3, pixels, capacity, &width, &height, &message)
            }
            guard status == 0 else { throw DataError("is not a decodable PNG (libpng: \(String(cString: message)))") }
        } else if memcmp(base, "RIFF", 4) == 0 && memcmp(base + 8, "WEBP", 4) == 0 {
            guard WebPGetInfo(base, data.count, &width, &height) != 0 else {
                throw DataError("is not a decodable WebP image (libwebp found no valid header)")
            }
            try checkPixelCount(width, height)
            reserve(Int(width) * Int(height) * 3)
            guard WebPDecodeRGBInto(base, data.count, pixels, capacity, width * 3) != nil else {
                throw DataError("is not a decodable WebP image (libwebp failed on the bitstream)")
            }
        } else {
            throw DataError("is neither a JPEG, a PNG nor a WebP image (its first bytes are none of their signatures)")
        }
        let side = try cropSide(Int(width) * scale, Int(height) * scale) / scale
        let scaledSide = min(side, Int(width), Int(height))
        resizer.resize(pixels, channels: 3, rowStride: Int(width) * 3, pixelStride: 3, channelStride: 1,
                       left: (Int(width) - scaledSide) / 2, top: (Int(height) - scaledSide) / 2,
                       side: scaledSide, into: output)
    }

    private func checkPixelCount(_ width: Int32, _ height: Int32) throws {
        guard width > 0, height > 0, Int(width) * Int(height) <= ImageDecoder.pixelLimit else {
            throw DataError("declares \(width)x\(height) pixels in its header; images of at most \(ImageDecoder.pixelLimit) pixels (8192x8192) are read")
        }
    }

    /// The crop side for an image of this size, or an error when the image is smaller.
    private func cropSide(_ width: Int, _ height: Int) throws -> Int {
        let shorter = min(width, height)
        let side = crop ?? shorter
        guard side <= shorter else {
            throw DataError("is \(width)x\(height), smaller than the \(side)x\(side) crop")
        }
        return side
    }

    private func reserve(_ bytes: Int) {
        guard bytes > capacity else { return }
        pixels.deallocate()
        pixels = .allocate(capacity: bytes)
        capacity = bytes
    }

    /// Runs a C decoder that returns -2 when the buffer is too small, growing it once.
    private func withCapacity(_ estimate: Int, _ decode: () -> Int32, failure: () -> String) throws {
        reserve(estimate)
        var status = decode()
        if status == -2 {
            reserve(capacity * 2)
            status = decode()
        }
        guard status == 0 else { throw DataError(failure()) }
    }
}
