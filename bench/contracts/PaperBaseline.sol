// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title PaperBaseline
/// @notice For `hrm bench gas` only, never deployed by hrm otherwise: the record stored the way the
/// paper's contract stores it, every field a plaintext string in contract storage, readable by
/// anyone. It exists so that one benchmark run measures what sealing saves (and what it protects).
contract PaperBaseline {
    struct HealthDetails {
        string recordedAt;
        string pregnancies;
        string glucose;
        string bloodPressure;
        string skinThickness;
        string insulin;
        string bmi;
        string diabetesPedigree;
        string age;
        string notes;
    }

    struct BillDetails {
        string issuedAt;
        string currency;
        string[] descriptions;
        string[] amounts;
        string total;
    }

    mapping(address => address[]) private supportingHospitals;
    mapping(uint256 => HealthDetails) private healthDetails;
    mapping(uint256 => BillDetails) private billDetails;
    mapping(uint256 => address) private primaryOf;
    mapping(uint256 => uint256) private voteCount;
    mapping(uint256 => bool) private migrationAllowed;

    function setSupportingHospitals(address[] calldata hospitals) external {
        supportingHospitals[msg.sender] = hospitals;
    }

    function getSupportingHospitals(address primary) external view returns (address[] memory) {
        return supportingHospitals[primary];
    }

    function setHealthDetails(uint256 id, HealthDetails calldata details) external {
        healthDetails[id] = details;
        primaryOf[id] = msg.sender;
    }

    function getHealthDetails(uint256 id) external view returns (HealthDetails memory) {
        return healthDetails[id];
    }

    function setBillDetails(uint256 id, BillDetails calldata details) external {
        billDetails[id] = details;
        primaryOf[id] = msg.sender;
    }

    function getBillDetails(uint256 id) external view returns (BillDetails memory) {
        return billDetails[id];
    }

    function approvePendingEntries(uint256 id) external {
        uint256 votes = voteCount[id] + 1;
        voteCount[id] = votes;
        if (votes == supportingHospitals[primaryOf[id]].length) {
            migrationAllowed[id] = true;
        }
    }

    function dataMigrationAllow(uint256 id) external view returns (bool) {
        return migrationAllowed[id];
    }

    function getVoteCount(uint256 id) external view returns (uint256) {
        return voteCount[id];
    }
}
