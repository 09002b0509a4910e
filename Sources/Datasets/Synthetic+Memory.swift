import Media
import Tensors

/// Small labelled videos held in memory (unit tests of the procedures, with
/// `FrameProvider(spec:frames:)`): class `c` is a bright square moving right at `c + 1`
/// pixels a frame over noise, so every procedure has something learnable in seconds.
public enum InMemoryVideos {
    public static let size = 36

    public static func frames(label: Int, variant: Int, count: Int, fps: Double = 30) -> Frames {
        var g = RandomGenerator(seed: UInt64(label * 1000 + variant))
        var px = [UInt8](repeating: 0, count: count * size * size * 3)
        for t in 0..<count {
            let x0 = (variant * 3 + t * (label + 1)) % (size - 8), y0 = 8 + (variant * 5) % (size - 16)
            for y in 0..<size {
                for x in 0..<size {
                    let inside = x >= x0 && x < x0 + 8 && y >= y0 && y < y0 + 8
                    for ch in 0..<3 {
                        let noise = UInt8(g.nextInt(below: 40))
                        px[((t * size + y) * size + x) * 3 + ch] = inside ? (ch == label % 3 ? 250 : 120) : noise
                    }
                }
            }
        }
        return Frames(pixels: px, count: count, height: size, width: size, fps: fps)
    }

    /// `perClass` videos of each of `classes` classes, and their provider.
    public static func labelled(classes: Int, perClass: Int, prefix: String, frames count: Int = 16) -> ([VideoRecord], [String: Frames]) {
        var records: [VideoRecord] = [], store: [String: Frames] = [:]
        for c in 0..<classes {
            for v in 0..<perClass {
                let id = "\(prefix)/c\(c)/v\(v)"
                records.append(VideoRecord(id: id, source: "memory:\(id)", label: c))
                store[id] = frames(label: c, variant: v + (prefix == "test" ? 50 : 0), count: count)
            }
        }
        return (records, store)
    }
}

