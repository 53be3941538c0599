//! Broken model files give clear errors, never a panic (issue #7): the wrong architecture, a tokenizer
//! that does not fit the weights, and GPT-BigCode `config.json` sizes no real model has (found by the
//! `safetensors` fuzz target's design review: they asked for impossible allocations).

use infill::engine::Engine;

fn fixture(path: &str) -> Vec<u8> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn gguf_error(file: &str) -> String {
    match Engine::from_gguf_bytes(&fixture(&format!("faults/{file}")), file) {
        Ok(_) => panic!("{file} loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_gguf_of_another_architecture_is_refused_by_name() {
    let e = gguf_error("wrong_arch.gguf");
    assert!(e.contains("architecture `mamba` is not supported"), "{e}");
}

#[test]
fn a_tokenizer_larger_than_the_embedding_is_refused() {
    let e = gguf_error("vocab_mismatch.gguf");
    assert!(
        e.contains("the tokenizer has 266 tokens but the model's embedding has only 200 rows"),
        "{e}"
    );
}

fn bigcode_with_config(config: &str) -> Result<Engine, String> {
    Engine::from_safetensors_bytes(
        &fixture("parity/bigcode_tiny/model_f16.safetensors"),
        config.as_bytes(),
        &fixture("parity/bigcode_tiny/tokenizer.json"),
        "tiny",
    )
    .map_err(|e| e.to_string())
}

#[test]
fn safetensors_config_sizes_no_model_has_are_errors() {
    let base = String::from_utf8(fixture("parity/bigcode_tiny/config.json")).expect("utf-8");
    assert!(bigcode_with_config(&base).is_ok());
    for (key, from, to) in [
        (
            "n_layer",
            "\"n_layer\": 2",
            "\"n_layer\": 18446744073709551615",
        ),
        ("n_layer", "\"n_layer\": 2", "\"n_layer\": 100000000"),
        (
            "n_inner",
            "\"n_inner\": 128",
            "\"n_inner\": 9223372036854775807",
        ),
        (
            "n_embd",
            "\"n_embd\": 64",
            "\"n_embd\": 4611686018427387904",
        ),
    ] {
        let config = base.replace(from, to);
        assert_ne!(config, base);
        let e = bigcode_with_config(&config)
            .err()
            .unwrap_or_else(|| panic!("{to} loaded"));
        assert!(e.contains(&format!("`{key}` =")), "{to}: {e}");
    }
    // A truncated or rewritten weights file is an error naming the problem.
    let weights = fixture("parity/bigcode_tiny/model_f16.safetensors");
    for cut in [0, 7, 8, 100, weights.len() / 2] {
        let e = Engine::from_safetensors_bytes(
            &weights[..cut],
            base.as_bytes(),
            &fixture("parity/bigcode_tiny/tokenizer.json"),
            "cut",
        )
        .err()
        .unwrap_or_else(|| panic!("{cut} bytes loaded"));
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn a_gguf_tensor_with_an_empty_dimension_is_refused_not_read() {
    // Found by the gguf fuzz target: a tensor shaped [780455190019872, 0] made candle read an empty,
    // misaligned buffer with `from_raw_parts` (a panic in debug builds, undefined behaviour in release).
    let e = gguf_error("fuzz_gguf_zero_dim_tensor.gguf");
    assert!(
        e.contains("tensor `blk.0.attn_k.weight` has an impossible shape"),
        "{e}"
    );
}

#[test]
fn a_bias_of_the_wrong_length_is_an_error_when_the_model_runs() {
    // The tiny Qwen2 (biases on q, k and v) with its first query bias cut to half its length: candle's
    // tensors used to refuse the sum; the layer's own loops must too, not add what fits.
    use candle_core::quantized::{gguf_file, QTensor};
    use candle_core::{Device, Tensor};
    let bytes = fixture("parity/qwen2_tiny.gguf");
    let mut reader = std::io::Cursor::new(&bytes);
    let content = gguf_file::Content::read(&mut reader).expect("the fixture parses");
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    for name in content.tensor_infos.keys() {
        let t = content.tensor(&mut reader, name, &Device::Cpu).unwrap();
        let t = if name == "blk.0.attn_q.bias" {
            let v = t
                .dequantize(&Device::Cpu)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let half =
                Tensor::from_vec(v[..v.len() / 2].to_vec(), v.len() / 2, &Device::Cpu).unwrap();
            QTensor::quantize(&half, t.dtype()).unwrap()
        } else {
            t
        };
        tensors.push((name.clone(), t));
    }
    let metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &metadata, &refs).unwrap();
    let damaged = out.into_inner();
    let mut reader = std::io::Cursor::new(&damaged);
    let content = gguf_file::Content::read(&mut reader).unwrap();
    let model = infill::model::Llama::from_gguf(&content, &mut reader, Default::default())
        .expect("the damaged model still loads");
    let e = model
        .logits(&[vec![1, 2, 3]], &mut model.new_cache())
        .expect_err("a run with a half-length bias gave logits")
        .to_string();
    assert!(e.contains("a bias of"), "{e}");
}
