import Datasets
import Foundation
import Media
import Protocols
import Tensors

/// Instance Correspondence Maps of a pretrained model over a dataset's test videos (paper
/// Fig. 4) as a procedure: strips for the first `figures` videos, and where object boxes
/// exist (synthetic sets), how much of each map's mass lies on the moving object.
public enum ICMEvaluation {
    public struct Result {
        /// Rendered strips of the first videos, in order.
        public var figures: [RGBImage]
        /// Mean over the figures of each map's max − min.
        public var mapRangeMean: Double
        /// Per scored video: object density / background density, and the two densities.
        public var ratios: [Double], objectDensities: [Double], backgroundDensities: [Double]
    }

    /// `boxes`: object boxes by video path below `root` (nil: no mass score).
    /// `log` receives one line per figure and every tenth scored video.
    public static func run(model: VTHCLModel, records: [VideoRecord], provider: FrameProvider, crop: Int, figures: Int,
                           boxes: [String: [ObjectBox]]?, root: String, log: (String) -> Void = { _ in }) throws -> Result {
        var result = Result(figures: [], mapRangeMean: 0, ratios: [], objectDensities: [], backgroundDensities: [])
        var spread = 0.0
        for (i, record) in records.enumerated() {
            let r = try InstanceCorrespondenceMap.analyse(model: model, record: record, provider: provider, crop: crop)
            var line = "icm     \(record.id)"
            if i < figures {
                result.figures.append(r.image)
                spread += Double((r.map.scalars.max() ?? 0) - (r.map.scalars.min() ?? 0))
                line += " → figure \(i)"
            }
            if let boxes {
                let key = relativePath(record.source, root: root)
                guard let own = boxes[key] else { throw ProcedureError("no object boxes for \(key)") }
                let byFrame = Dictionary(own.map { ($0.frame, $0) }, uniquingKeysWith: { (a: ObjectBox, _: ObjectBox) in a })
                let perFrame = r.slowFrames.map { t in byFrame[t].map { r.cropBox($0, crop: crop) } }
                if let mass = InstanceCorrespondenceMap.objectMass(map: r.map, width: crop, height: crop, boxes: perFrame) {
                    result.ratios.append(mass.ratio)
                    result.objectDensities.append(mass.objectDensity)
                    result.backgroundDensities.append(mass.backgroundDensity)
                    line += String(format: ", map mass on the object %.2f× the background", mass.ratio)
                }
            }
            if i < figures || i % 10 == 0 { log(line) }
        }
        result.mapRangeMean = spread / Double(max(1, result.figures.count))
        return result
    }

    /// `path` below `root` ("train/x/y.mp4"), as the object-box file names videos.
    public static func relativePath(_ path: String, root: String) -> String {
        let p = URL(fileURLWithPath: path).standardizedFileURL.path, r = URL(fileURLWithPath: root).standardizedFileURL.path
        return p.hasPrefix(r + "/") ? String(p.dropFirst(r.count + 1)) : p
    }
}
