import Foundation

/// Sizes of the synthetic stand-in datasets.
public enum SyntheticScale: String, CaseIterable, Sendable {
    /// Seconds to generate on 2 cores; what CI and `bench all --scale ci` use.
    case ci
    /// The ci frames, classes and training sets, with test splits of about 1,100 videos a
    /// recognition set (and more AVA and Epic test videos), so a 95 % interval of an
    /// accuracy is about ±3 points (`bench all --scale small`).
    case small
    /// Minutes to generate; larger frames and many more videos.
    case mini
}

/// What `SyntheticDatasets.generate` writes. Frames are `width × height` everywhere.
public struct SyntheticConfig: Sendable, Equatable {
    /// A single-label recognition set.
    public struct Recognition: Sendable, Equatable {
        public var classes: Int
        /// Kinetics / HMDB: videos per class. UCF: groups per class (`gGG`).
        public var perClass: Int
        /// UCF: clips per group (`cCC`); Kinetics: held-out (val) videos per class.
        public var extra: Int
        public var fps: Double
        public var seconds: ClosedRange<Double>
        /// Test-only units per class, beyond the split rule: UCF groups of `extra` clips
        /// (numbered after the `perClass` groups, in every split's test list), HMDB videos
        /// marked test (2) in every split. Kinetics' `extra` already is its val split.
        public var heldOut: Int

        public init(classes: Int, perClass: Int, extra: Int, fps: Double, seconds: ClosedRange<Double>, heldOut: Int = 0) {
            self.classes = classes
            self.perClass = perClass
            self.extra = extra
            self.fps = fps
            self.seconds = seconds
            self.heldOut = heldOut
        }
    }

    public var width: Int
    public var height: Int
    public var kinetics: Recognition
    public var ucf: Recognition
    public var hmdb: Recognition
    /// AVA: train and val movies, keyframes per movie, actors per movie.
    public var avaTrainVideos: Int
    public var avaTestVideos: Int
    public var avaKeyframes: Int
    public var avaActors: Int
    /// Epic: participants, videos per participant, seconds per video.
    public var epicParticipants: Int
    public var epicVideosPerParticipant: Int
    public var epicSeconds: Double
    /// Epic frame rate (the last video of the first participant uses 50 fps, as a few real
    /// videos differ).
    public var epicFPS: Double
    /// Epic: the last this many videos (in participant order) are the held-out videos.
    public var epicTestVideos: Int = 1
    public var difficulty: Difficulty

    public static func preset(_ scale: SyntheticScale) -> SyntheticConfig {
        switch scale {
        case .ci:
            return SyntheticConfig(
                width: 64, height: 48,
                kinetics: Recognition(classes: 10, perClass: 16, extra: 8, fps: 30, seconds: 2.4...3.2),
                ucf: Recognition(classes: 8, perClass: 6, extra: 2, fps: 25, seconds: 2.8...3.6),
                hmdb: Recognition(classes: 6, perClass: 15, extra: 0, fps: 30, seconds: 2.4...3.2),
                avaTrainVideos: 3, avaTestVideos: 2, avaKeyframes: 8, avaActors: 3,
                epicParticipants: 2, epicVideosPerParticipant: 2, epicSeconds: 20, epicFPS: 60,
                difficulty: Difficulty(maxDistractors: 1, appearancePool: 4, layoutVariation: 0.25, backgroundPool: 1))
        case .small:
            // The ci sets with large test splits: Kinetics val 10 × 110, UCF 8 × (4 + 140),
            // HMDB 6 × (4 + 185) test videos; AVA 8 test movies; Epic 45 held-out videos
            // of a minute (about 24 actions each).
            var c = preset(.ci)
            c.kinetics.extra = 110
            c.ucf.heldOut = 70
            c.hmdb.heldOut = 185
            c.avaTestVideos = 8
            c.epicParticipants = 6
            c.epicVideosPerParticipant = 9
            c.epicSeconds = 60
            c.epicFPS = 30
            c.epicTestVideos = 45
            return c
        case .mini:
            return SyntheticConfig(
                width: 128, height: 96,
                kinetics: Recognition(classes: 16, perClass: 60, extra: 10, fps: 30, seconds: 3...5),
                ucf: Recognition(classes: 12, perClass: 12, extra: 3, fps: 25, seconds: 3...5),
                hmdb: Recognition(classes: 10, perClass: 40, extra: 0, fps: 30, seconds: 3...5),
                avaTrainVideos: 12, avaTestVideos: 4, avaKeyframes: 20, avaActors: 4,
                epicParticipants: 4, epicVideosPerParticipant: 3, epicSeconds: 60, epicFPS: 60,
                difficulty: Difficulty(maxDistractors: 3, noise: 8, cameraJitter: 0.8, tempoRange: 2, appearancePool: 8))
        }
    }

    /// A very small configuration for unit tests (a few seconds in a debug build).
    public static var tiny: SyntheticConfig {
        SyntheticConfig(
            width: 32, height: 24,
            kinetics: Recognition(classes: 3, perClass: 2, extra: 1, fps: 25, seconds: 1.0...1.2),
            ucf: Recognition(classes: 3, perClass: 3, extra: 1, fps: 25, seconds: 1.0...1.2),
            hmdb: Recognition(classes: 3, perClass: 4, extra: 0, fps: 25, seconds: 1.0...1.2),
            avaTrainVideos: 1, avaTestVideos: 1, avaKeyframes: 3, avaActors: 2,
            epicParticipants: 1, epicVideosPerParticipant: 2, epicSeconds: 8, epicFPS: 30,
            difficulty: Difficulty())
    }
}

extension SyntheticConfig {
    /// Items of a generated dataset's training and test splits (split 1 where there are
    /// several), for cost estimates: videos for the recognition sets, keyframes for AVA (less the one excluded a movie),
    /// action segments for Epic (its segments are drawn at random: their expected count,
    /// a video's length over the mean action length plus gap, 2.25 + 0.35 s).
    public func items(_ format: DatasetFormat) -> (train: Double, test: Double) {
        switch format {
        case .kinetics400:
            return (Double(kinetics.classes * kinetics.perClass), Double(kinetics.classes * kinetics.extra))
        case .ucf101:
            let clips = max(1, ucf.extra), testGroups = (ucf.perClass + 2) / 3
            return (Double(ucf.classes * (ucf.perClass - testGroups) * clips),
                    Double(ucf.classes * (testGroups + ucf.heldOut) * clips))
        case .hmdb51:
            let n = hmdb.perClass, train = (n * 7 + 9) / 10, test = n - max(0, n / 15) - train
            return (Double(hmdb.classes * train), Double(hmdb.classes * (test + hmdb.heldOut)))
        case .ava:
            // One keyframe of each movie is listed as excluded.
            let kept = max(0, avaKeyframes - 1)
            return (Double(avaTrainVideos * kept), Double(avaTestVideos * kept))
        case .epic55:
            let videos = epicParticipants * epicVideosPerParticipant
            let held = max(1, min(epicTestVideos, videos - 1))
            let perVideo = max(0, epicSeconds - 0.8) / 2.6
            return (Double(videos - held) * perVideo, Double(held) * perVideo)
        }
    }
}
