import Foundation

/// The synthetic generator's record of where each recognition clip's moving object is:
/// `annotations/object_boxes.csv` beside a synthetic Kinetics-format set, one row per
/// (video, frame) with the object visible:
///
///     video,frame,x1,y1,x2,y2
///     train/bouncing/AbC-dEf_Ghi_000012_000015.mp4,0,0.312500,0.208333,0.468750,0.416667
///
/// `video` is the path below the dataset root, `frame` the 0-based index at the stored
/// frame rate, and the box `[x1, x2) × [y1, y2)` is in fractions of the frame width and
/// height (so it holds at any decode size). The ICM stage scores maps against it.
public enum ObjectBoxes {
    public static let fileName = "object_boxes.csv"
    public static let header = "video,frame,x1,y1,x2,y2"

    /// Boxes per video (`video` column) in frame order. Every malformed row is an error
    /// naming the file and line.
    public static func load(_ path: String) throws(DatasetError) -> [String: [ObjectBox]] {
        var out: [String: [ObjectBox]] = [:]
        for row in try TextTable.csv(path, header: header.components(separatedBy: ","), minFields: 6) {
            let f = row.fields
            guard let frame = Int(f[1].trimmingCharacters(in: .whitespaces)), frame >= 0 else {
                throw .annotation(file: path, line: row.line, detail: "frame must be a non-negative integer, found '\(f[1])'")
            }
            let v = f[2...5].map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard v.allSatisfy({ $0 != nil }), let x1 = v[0], let y1 = v[1], let x2 = v[2], let y2 = v[3],
                  0 <= x1, x1 < x2, x2 <= 1, 0 <= y1, y1 < y2, y2 <= 1 else {
                throw .annotation(file: path, line: row.line,
                                  detail: "box must be four fractions with 0 ≤ x1 < x2 ≤ 1 and 0 ≤ y1 < y2 ≤ 1, found \(f[2...5].joined(separator: ","))")
            }
            out[f[0], default: []].append(ObjectBox(frame: frame, x1: x1, y1: y1, x2: x2, y2: y2))
        }
        return out
    }
}
