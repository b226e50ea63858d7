// The settings flags that `train`, `bench` and `gradcheck` share: --config FILE, the shorthand
// flags of CLI.md, and KEY=VALUE overrides, applied in that order.
import CQF

/// Smaller widths for `--debug`, applied before the user's overrides so that any can be changed.
let debugOverrides: [(key: String, value: String)] = [
    ("widths", "8,8,16,16"), ("z", "4"), ("first", "8"), ("nvp.filters", "8"), ("nvp.blocks", "1"), ("batch", "8"),
    ("log_every", "1"), ("sample_every", "20"), ("checkpoint_every", "20"),
]

extension Arguments {
    /// The config from `--config` (or `base`, the run's own config.json on resume) with every
    /// override of the command line; `extra` goes first (the --debug model).
    mutating func config(base: String? = nil, extra: [(key: String, value: String)] = []) throws -> Config {
        let file = try string("config") ?? base
        var overrides = extra
        for (flag, key) in [("dataset", "dataset"), ("data", "data"), ("steps", "steps"), ("batch", "batch"), ("seed", "seed")] {
            if let value = try string(flag) { overrides.append((key, value)) }
        }
        overrides += self.overrides()
        return try Config.load(path: file, overrides: overrides)
    }
}
