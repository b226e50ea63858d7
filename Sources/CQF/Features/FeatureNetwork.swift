// What `score` asks of a network that judges images: a feature vector per image (the space in
// which FID, KID and precision/recall compare two sets) and class logits (whose softmax gives the
// Inception Score). Two networks answer it: pytorch-fid's Inception v3 and the small classifier
// that `classifier` trains with our own engine. The metrics know nothing of which one ran.

/// A frozen network that maps images to features and class logits, forward only.
public protocol FeatureNetwork: AnyObject {
    /// Says what the features are, for `score`'s JSON line ("inception-v3-fid", "classifier:fashion-mnist").
    var name: String { get }
    /// Length of one image's feature vector (2048 for Inception's pool features).
    var featureCount: Int { get }
    /// Number of class logits (1008 for pytorch-fid's Inception, 10 for the classifiers).
    var classCount: Int { get }
    /// Throws one sentence when the network cannot judge images of `shape` (checked before any
    /// work, so that `score` refuses a mismatch as bad input instead of stopping in the middle).
    func check(_ shape: ImageShape) throws
    /// Features (N, featureCount) and logits (N, classCount) of `images`, a float tensor
    /// (N, C, H, W) holding the uint8 pixels divided by 255 (as torchvision's ToTensor gives
    /// them to pytorch-fid). Each network resizes, rescales or repeats gray channels itself.
    func evaluate(_ images: Tensor) -> (features: Tensor, logits: Tensor)
}

extension FeatureNetwork {
    /// Features and logits of this rank's share of `images` (rows tagged with their index in the
    /// whole set), evaluated `batch` images at a time; `progress` counts the images done.
    public func judge(_ images: JudgedImages, rank: Int, ranks: Int, batch: Int,
                      progress: ProgressLine? = nil, warn: (String) -> Void = { _ in }) throws -> (features: FeatureSet, logits: FeatureSet) {
        try check(images.shape)
        var features = FeatureSet(dimension: featureCount)
        var logits = FeatureSet(dimension: classCount)
        try images.forEachBatch(rank: rank, ranks: ranks, batch: batch, warn: warn) { pixels, firstIndex in
            let judged = evaluate(pixels)
            features.append(judged.features, firstIndex: firstIndex)
            logits.append(judged.logits, firstIndex: firstIndex)
            progress?.advance(by: pixels.shape[0])
        }
        progress?.finish()
        return (features, logits)
    }
}

/// The feature network in the safetensors file at `path`: a classifier written by
/// `Distributed classifier` (its metadata says kind "classifier"), or else pytorch-fid's
/// Inception v3, whose reader names the first tensor the file lacks.
public func loadFeatureNetwork(path: String) throws -> FeatureNetwork {
    try SafeTensors.read(path: path).metadata["kind"] == "classifier" ? Classifier(contentsOf: path) : InceptionV3(contentsOf: path)
}
