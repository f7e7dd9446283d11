//! `hrm model train|evaluate` and `hrm predict --file`, which need no chain or database.

use crate::common::TestEnv;
use crate::common::cli::Hrm;

const HEADER: &str = "Pregnancies,Glucose,BloodPressure,SkinThickness,Insulin,BMI,DiabetesPedigreeFunction,Age,Outcome";

#[tokio::test]
async fn train_evaluate_and_predict_from_a_file() {
    let env = TestEnv::start("model_cli").await;
    let hrm = Hrm::new(&env);

    let evaluation = hrm.json(&["model", "evaluate", "--folds", "10", "--seed", "7"]);
    let accuracy = evaluation["evaluation"]["accuracy"]["mean"].as_f64().unwrap();
    let auc = evaluation["evaluation"]["roc_auc"]["mean"].as_f64().unwrap();
    assert!((accuracy - 0.776).abs() <= 0.015 && (auc - 0.832).abs() <= 0.015, "accuracy {accuracy}, AUC {auc}");
    assert_eq!(evaluation["paper_training_accuracy"], 0.761);
    let text = hrm.ok(&["model", "evaluate", "--impute", "median", "--folds", "5"]);
    assert!(text.contains("imputation median") && text.contains("training accuracy"), "{text}");

    // Without a model, predict says how to get one.
    let readings = hrm.write_file("readings.json", r#"{"pregnancies":6,"glucose":148,"blood_pressure":72,"skin_thickness":35,"insulin":0,"bmi":33.6,"diabetes_pedigree":0.627,"age":50}"#);
    let err = hrm.fails(&["predict", "--file", readings.to_str().unwrap()]);
    assert!(err.contains("hrm model train"), "{err}");

    let out = hrm.home().join("models/pima.json");
    let trained = hrm.json(&["model", "train", "--out", out.to_str().unwrap()]);
    assert_eq!(trained["model"]["training_rows"], 768);
    assert_eq!(
        trained["model"]["training_data_sha256"],
        "27939f6c904b6c58a3ae9fe48a50cefadd42b46ce92ebad9cb4114334b28ee66"
    );
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for key in ["format_version", "model_id", "feature_names", "model", "metrics"] {
        assert!(file.get(key).is_some(), "the model file lacks {key}");
    }
    assert_eq!(file["model"]["coefficients"].as_array().unwrap().len(), 8);

    let model = out.to_str().unwrap();
    let high = hrm.json(&["predict", "--model", model, "--file", readings.to_str().unwrap()]);
    let probability = high["prediction"]["probability"].as_f64().unwrap();
    assert!(probability > 0.5 && high["prediction"]["diabetic"] == true, "{high}");
    assert_eq!(high["stored"], false);
    assert_eq!(high["prediction"]["contributions"].as_array().unwrap().len(), 8);
    let strict = hrm.json(&["predict", "--model", model, "--threshold", "0.99", "--file", readings.to_str().unwrap()]);
    assert_eq!(strict["prediction"]["diabetic"], false);

    let low = hrm.write_file(
        "visit.json",
        &crate::common::cli::health_json("85", "routine").replace("\"bmi\": 33.6", "\"bmi\": 22.1"),
    );
    let low = hrm.json(&["predict", "--model", model, "--file", low.to_str().unwrap()]);
    assert!(low["prediction"]["probability"].as_f64().unwrap() < probability);
    assert!(hrm.ok(&["predict", "--model", model, "--file", readings.to_str().unwrap()]).contains("Glucose"));

    let wild = hrm.write_file("wild.json", r#"{"pregnancies":6,"glucose":148,"blood_pressure":72,"skin_thickness":35,"insulin":0,"bmi":133.6,"diabetes_pedigree":0.627,"age":50}"#);
    let err = hrm.fails(&["predict", "--model", model, "--file", wild.to_str().unwrap()]);
    assert!(err.contains("bmi 133.6 is outside the plausible range"), "{err}");
}

#[tokio::test]
async fn bad_training_data_is_named() {
    let env = TestEnv::start("model_bad_data").await;
    let hrm = Hrm::new(&env);
    let cases = [
        ("missing.csv", HEADER.replace(",Insulin", "") + "\n", "missing column 'Insulin'"),
        (
            "typo.csv",
            HEADER.replace("BloodPressure", "BloodPresure") + "\n",
            "unknown column 'BloodPresure' (did you mean 'BloodPressure'?)",
        ),
        (
            "cell.csv",
            format!("{HEADER}\n6,148,72,35,0,33.6,0.627,50,1\n1,85,sixty,29,0,26.6,0.351,31,0\n"),
            "line 3, column 'BloodPressure': 'sixty' is not a number",
        ),
        (
            "outcome.csv",
            format!("{HEADER}\n6,148,72,35,0,33.6,0.627,50,1\n1,85,66,29,0,26.6,0.351,31,yes\n"),
            "line 3, column 'Outcome': must be 0 or 1, not 'yes'",
        ),
    ];
    for (name, contents, expected) in cases {
        let path = hrm.write_file(name, &contents);
        for command in ["train", "evaluate"] {
            let err = hrm.fails(&["model", command, "--data", path.to_str().unwrap()]);
            assert!(err.contains(expected) && err.contains(name), "{command} {name}: {err}");
        }
    }
    assert!(!hrm.home().join("model.json").exists(), "a failed training wrote a model");
    let err = hrm.fails(&["model", "evaluate", "--folds", "1"]);
    assert!(err.contains("use 2 to"), "{err}");
}
