// The Protocols module: downstream evaluation of pretrained encoders (SPEC §3) and
// its metrics.
//
// - RoIAlign.swift: RoIAlign (aligned, 7×7, scale 1/16) with its pullback, for the AVA
//   detection head.
// - AVA.swift, AVA+Parse.swift, AVA+FrameMAP.swift: AVA v2.2 files and frame mAP@0.5 as
//   the official ActivityNet evaluator computes it (`bench eval ava`).
// - Metrics.swift: top-k, clip- and video-level recognition accuracy, Epic-Kitchens
//   verb/noun accuracy.
// - KNNProbe.swift: weighted kNN classification of frozen features.
