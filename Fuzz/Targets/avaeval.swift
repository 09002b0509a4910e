// `bench eval ava`'s inputs: `ground truth CSV ~~~ detections CSV ~~~ exclusions CSV ~~~ label
// map`, parsed, then evaluated (frame mAP).
@testable import Protocols
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let p = parts(bytes(data, size), 4).map { String(decoding: $0, as: UTF8.self) }
    do {
        let truth = try AVAFiles.parseGroundTruth(p[0], file: "gt.csv")
        let detections = try AVAFiles.parseDetections(p[1], file: "det.csv")
        let excluded = try AVAFiles.parseExclusions(p[2], file: "excl.csv")
        let map = p[3].isEmpty ? nil : try AVAFiles.parseLabelMap(p[3], file: "map.pbtxt")
        _ = try AVAFrameMAP.evaluate(groundTruth: truth, detections: detections, classes: map?.ids, excluded: excluded)
    } catch {
        expectNamed(error, ["gt.csv", "det.csv", "excl.csv", "map.pbtxt", "ground truth"], "ava eval")
    }
    return 0
}
