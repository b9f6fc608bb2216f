"""The seed catalogue: common tests coded in LOINC, SI units written in UCUM, adult reference
limits of a typical Chinese county laboratory (WS/T 404, WS/T 405 style), critical limits of a
typical critical-value list, and wide physically plausible limits.

Ranges here are demonstration values: each laboratory validates and edits its own.
"""

from __future__ import annotations

# code, name, name_en, UCUM unit, specimen type, decimals
TESTS: tuple[tuple[str, str, str, str, str, int], ...] = (
    # complete blood count
    ("6690-2", "白细胞计数", "Leukocytes", "10*9/L", "blood_edta", 2),
    ("789-8", "红细胞计数", "Erythrocytes", "10*12/L", "blood_edta", 2),
    ("718-7", "血红蛋白", "Hemoglobin", "g/L", "blood_edta", 0),
    ("4544-3", "红细胞压积", "Hematocrit", "%", "blood_edta", 1),
    ("787-2", "平均红细胞体积", "MCV", "fL", "blood_edta", 1),
    ("785-6", "平均红细胞血红蛋白量", "MCH", "pg", "blood_edta", 1),
    ("786-4", "平均红细胞血红蛋白浓度", "MCHC", "g/L", "blood_edta", 0),
    ("777-3", "血小板计数", "Platelets", "10*9/L", "blood_edta", 0),
    # chemistry
    ("2345-7", "葡萄糖", "Glucose", "mmol/L", "serum", 2),
    ("3094-0", "尿素氮", "Urea nitrogen", "mmol/L", "serum", 2),
    ("2160-0", "肌酐", "Creatinine", "umol/L", "serum", 0),
    ("2951-2", "钠", "Sodium", "mmol/L", "serum", 0),
    ("2823-3", "钾", "Potassium", "mmol/L", "serum", 2),
    ("2075-0", "氯", "Chloride", "mmol/L", "serum", 0),
    ("2028-9", "二氧化碳", "Carbon dioxide", "mmol/L", "serum", 0),
    ("17861-6", "钙", "Calcium", "mmol/L", "serum", 2),
    ("1751-7", "白蛋白", "Albumin", "g/L", "serum", 1),
    ("2885-2", "总蛋白", "Protein", "g/L", "serum", 1),
    ("6768-6", "碱性磷酸酶", "Alkaline phosphatase", "U/L", "serum", 0),
    ("1742-6", "丙氨酸氨基转移酶", "ALT", "U/L", "serum", 0),
    ("1920-8", "天门冬氨酸氨基转移酶", "AST", "U/L", "serum", 0),
    ("1975-2", "总胆红素", "Bilirubin total", "umol/L", "serum", 1),
    # lipids
    ("2093-3", "总胆固醇", "Cholesterol", "mmol/L", "serum", 2),
    ("2571-8", "甘油三酯", "Triglyceride", "mmol/L", "serum", 2),
    ("2085-9", "高密度脂蛋白胆固醇", "HDL cholesterol", "mmol/L", "serum", 2),
    ("13457-7", "低密度脂蛋白胆固醇 (计算)", "LDL cholesterol (calculated)", "mmol/L", "serum", 2),
    # single tests
    ("4548-4", "糖化血红蛋白", "Hemoglobin A1c", "%", "blood_edta", 1),
    ("10839-9", "心肌肌钙蛋白I", "Troponin I cardiac", "ug/L", "serum", 3),
    # urinalysis (test strip)
    ("5803-2", "尿酸碱度", "pH of Urine", "[pH]", "urine", 1),
    ("5811-5", "尿比重", "Specific gravity of Urine", "1", "urine", 3),
    ("20454-5", "尿蛋白", "Protein [Presence] in Urine", "", "urine", 0),
    ("25428-4", "尿糖", "Glucose [Presence] in Urine", "", "urine", 0),
    # coagulation
    ("5902-2", "凝血酶原时间", "Prothrombin time", "s", "plasma_citrate", 1),
    ("6301-6", "国际标准化比值", "INR", "{INR}", "plasma_citrate", 2),
    ("14979-9", "活化部分凝血活酶时间", "aPTT", "s", "plasma_citrate", 1),
    ("3255-7", "纤维蛋白原", "Fibrinogen", "g/L", "plasma_citrate", 2),
)

CBC = ("6690-2", "789-8", "718-7", "4544-3", "787-2", "785-6", "786-4", "777-3")
BMP = ("2345-7", "3094-0", "2160-0", "2951-2", "2823-3", "2075-0", "2028-9", "17861-6")
CMP = (*BMP, "1751-7", "2885-2", "6768-6", "1742-6", "1920-8", "1975-2")
LIPIDS = ("2093-3", "2571-8", "2085-9", "13457-7")
URINE = ("5803-2", "5811-5", "20454-5", "25428-4")
COAG = ("5902-2", "6301-6", "14979-9", "3255-7")

# code, system, name, name_en, specimen type, components
PANELS: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    ("58410-2", "LN", "血常规", "CBC panel - Blood by Automated count", "blood_edta", CBC),
    ("51990-0", "LN", "基础代谢组合", "Basic metabolic panel - Blood", "serum", BMP),
    ("24323-8", "LN", "综合代谢组合", "Comprehensive metabolic panel", "serum", CMP),
    ("24331-1", "LN", "血脂四项", "Lipid panel - Serum or Plasma", "serum", LIPIDS),
    ("24356-8", "LN", "尿常规", "Urinalysis complete panel - Urine", "urine", URINE),
    ("COAG4", "L", "凝血四项", "Coagulation panel (local code)", "plasma_citrate", COAG),
)

INF = None
# code, sex, age from, age to (years), low, high, critical low/high, plausible low/high
RANGES: tuple[
    tuple[
        str,
        str,
        float,
        float | None,
        float | None,
        float | None,
        float | None,
        float | None,
        float | None,
        float | None,
    ],
    ...,
] = (
    ("6690-2", "", 18, INF, 3.5, 9.5, 1.0, 30.0, 0.01, 500.0),
    ("6690-2", "", 0, 18, 4.0, 12.0, 1.0, 30.0, 0.01, 500.0),
    ("789-8", "M", 18, INF, 4.3, 5.8, INF, INF, 0.1, 12.0),
    ("789-8", "F", 18, INF, 3.8, 5.1, INF, INF, 0.1, 12.0),
    ("789-8", "", 0, 18, 4.0, 5.5, INF, INF, 0.1, 12.0),
    ("718-7", "M", 18, INF, 130, 175, 60, 200, 10, 260),
    ("718-7", "F", 18, INF, 115, 150, 60, 200, 10, 260),
    ("718-7", "", 1, 18, 110, 160, 60, 200, 10, 260),
    ("718-7", "", 0, 1, 100, 140, 60, 220, 10, 260),
    ("4544-3", "M", 18, INF, 40, 50, 18, 60, 5, 80),
    ("4544-3", "F", 18, INF, 35, 45, 18, 60, 5, 80),
    ("787-2", "", 0, INF, 82, 100, INF, INF, 40, 160),
    ("785-6", "", 0, INF, 27, 34, INF, INF, 10, 60),
    ("786-4", "", 0, INF, 316, 354, INF, INF, 150, 500),
    ("777-3", "", 0, INF, 125, 350, 20, 1000, 1, 3000),
    ("2345-7", "", 0, INF, 3.9, 6.1, 2.8, 22.2, 0.3, 150),
    ("3094-0", "", 18, INF, 2.8, 7.2, INF, 35, 0.1, 150),
    ("2160-0", "M", 18, INF, 57, 111, INF, 700, 5, 3000),
    ("2160-0", "F", 18, INF, 41, 81, INF, 700, 5, 3000),
    ("2160-0", "", 0, 18, 20, 80, INF, 700, 5, 3000),
    ("2951-2", "", 0, INF, 137, 147, 120, 160, 80, 200),
    ("2823-3", "", 0, INF, 3.5, 5.3, 2.8, 6.2, 1.0, 15.0),
    ("2075-0", "", 0, INF, 99, 110, 80, 120, 50, 160),
    ("2028-9", "", 0, INF, 22, 29, 10, 40, 2, 60),
    ("17861-6", "", 0, INF, 2.11, 2.52, 1.6, 3.5, 0.5, 6.0),
    ("1751-7", "", 0, INF, 40, 55, INF, INF, 5, 80),
    ("2885-2", "", 0, INF, 65, 85, INF, INF, 20, 150),
    ("6768-6", "", 18, INF, 45, 125, INF, INF, 1, 5000),
    ("1742-6", "", 0, INF, 7, 40, INF, 1000, 1, 10000),
    ("1920-8", "", 0, INF, 13, 35, INF, 1000, 1, 10000),
    ("1975-2", "", 0, INF, 3.4, 20.5, INF, 340, 0.5, 1000),
    ("2093-3", "", 0, INF, INF, 5.2, INF, INF, 0.5, 30),
    ("2571-8", "", 0, INF, INF, 1.7, INF, INF, 0.1, 100),
    ("2085-9", "", 0, INF, 1.04, INF, INF, INF, 0.05, 5),
    ("13457-7", "", 0, INF, INF, 3.4, INF, INF, 0.1, 20),
    ("4548-4", "", 0, INF, 4.0, 6.0, INF, INF, 2.0, 25.0),
    ("10839-9", "", 0, INF, INF, 0.04, INF, 0.5, 0.0, 1000.0),
    ("5803-2", "", 0, INF, 5.0, 8.0, INF, INF, 4.0, 9.5),
    ("5811-5", "", 0, INF, 1.003, 1.030, INF, INF, 1.0, 1.06),
    ("5902-2", "", 0, INF, 11, 14, INF, 30, 5, 200),
    ("6301-6", "", 0, INF, 0.8, 1.2, INF, 5.0, 0.5, 20),
    ("14979-9", "", 0, INF, 25, 35, INF, 100, 10, 300),
    ("3255-7", "", 0, INF, 2.0, 4.0, 1.0, INF, 0.1, 15),
)
