"""Learned segmentation toolchain: the model registry, the metadata card stored with the
weights, ONNX export and an onnxruntime inference wrapper. ROS-free.

This package file imports nothing heavy: `sorter.models.onnx_runtime` runs with numpy and
onnxruntime only; the torch side (`registry`, `mineral_deeplab`, `baselines`, `checkpoint`,
`export`) is imported where it is used."""
